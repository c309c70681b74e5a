/**
 * The decision engine's I/O: decisions are answered from the decision state of the database handle
 * (src/access/state.ts), which the change-log follower (src/changes/follower.ts) loads at start-up and keeps
 * current. In steady state `check`, `checkMany` and `effectivePermissions` read nothing from the database;
 * a write made through this server is applied before its next decision, one made through another server
 * within the follower's poll interval (or at once with a consistency token, see awaitPosition).
 */
import type { Db } from '../db/connect';
import { HttpError, notFound } from '../http/errors';
import { decisionState } from '../changes/follower';
import { OPERATIONS, type Operation } from './catalog';
import type { AccessIndex, DomainInput } from './accessIndex';
import { decide, type Decision, type DomainKey, type Subject } from './engine';
import * as repo from './repo';
import type { DecisionState, SubjectWithName } from './state';
import { DecisionTally, recordDecision } from '../ops/decisions';

export type { SubjectWithName };

/** The current decision state (accounts by name and id, and the index). */
export async function getState(db: Db): Promise<DecisionState> {
  return decisionState(db);
}

/** The current access index (workspaces, rules, caps, domains) from the decision state. */
export async function getIndex(db: Db): Promise<AccessIndex> {
  return (await decisionState(db)).index;
}

// ---- subjects --------------------------------------------------------------------------------------------

/** The subject of a check, by id or (case-insensitive) username; undefined when there is no such user. */
export async function loadSubject(db: Db, usernameOrId: string | number): Promise<SubjectWithName | undefined> {
  return (await decisionState(db)).account(usernameOrId);
}

// ---- resolving names -------------------------------------------------------------------------------------

export const userNotFound = (user: string | number) => notFound('User', `There is no user ${typeof user === 'number' ? `with id ${user}` : `"${user}"`}.`);

export function resolveDomain(index: AccessIndex, domain: string): DomainInput {
  const d = index.findDomain(domain);
  if (!d) {
    throw notFound('Domain', `There is no domain "${domain}". Domains: ${index.domains().map((x) => x.name).join(', ')}.`);
  }
  return d;
}

export function resolveWorkspace(index: AccessIndex, workspace: string | number): number {
  if (typeof workspace === 'number') {
    if (!index.hasWorkspace(workspace)) throw notFound('Workspace', `There is no workspace with id ${workspace}.`);
    return workspace;
  }
  const id = index.workspaceByPath(workspace);
  if (id === undefined) throw notFound('Workspace', `There is no workspace "${workspace}" (give its path, e.g. /Root/Sales).`);
  return id;
}

// ---- checks ----------------------------------------------------------------------------------------------

export interface CheckQuery {
  user: string | number;
  /** Domain name or key, case-insensitive. */
  domain: string;
  operation: Operation;
  /** Path like "/Root/Sales/EMEA" (case-insensitive) or workspace id. */
  workspace: string | number;
  /** Element level 0–9; only domains with levels use it (absent or null: 0). */
  level?: number | null;
}

/** A decision with what it was asked about. */
export interface CheckResult extends Decision {
  index: AccessIndex;
  subject: SubjectWithName;
  domain: DomainInput;
  operation: Operation;
  workspaceId: number;
  level: number;
}

function decideFor(index: AccessIndex, subject: SubjectWithName, q: CheckQuery, now: number): CheckResult {
  const domain = resolveDomain(index, q.domain);
  const workspaceId = resolveWorkspace(index, q.workspace);
  const level = domain.usesLevels ? (q.level ?? 0) : 0;
  const d = decide(index, subject, domain.key as DomainKey, q.operation, workspaceId, level, now);
  recordDecision(d);
  return resultOf(d, index, subject, domain, q.operation, workspaceId, level);
}

/** Section 2 of PRODUCT.md for one question. Unknown user, domain or workspace: a not_found HttpError (details.type says which). */
export async function check(db: Db, q: CheckQuery, now = Date.now()): Promise<CheckResult> {
  const state = await decisionState(db);
  const index = state.index;
  // Domain and workspace errors come before an unknown user's, as the API documents.
  resolveDomain(index, q.domain);
  resolveWorkspace(index, q.workspace);
  const subject = state.account(q.user);
  if (!subject) throw userNotFound(q.user);
  return decideFor(index, subject, q, now);
}

/**
 * Many questions at once, answered in order from one state; each item is a result or the HttpError it would
 * have raised. A batch names few distinct domains (and often repeats users and workspaces): each distinct
 * name is resolved once, and the decisions are counted for /metrics once per batch.
 */
export async function checkMany(db: Db, queries: CheckQuery[], now = Date.now()): Promise<Array<CheckResult | HttpError>> {
  const state = await decisionState(db);
  const index = state.index;
  // Domains are few and resolved once each; a workspace or a user is one map lookup already (a cache per
  // batch would only add a second for names that rarely repeat).
  const domains = new Map<string, DomainInput | HttpError>();
  const tally = new DecisionTally();
  const out = new Array<CheckResult | HttpError>(queries.length);
  for (let i = 0; i < queries.length; i++) {
    const q = queries[i];
    let domain = domains.get(q.domain);
    if (domain === undefined) domains.set(q.domain, (domain = orError(resolveDomain, index, q.domain)));
    const workspaceId = orError(resolveWorkspace, index, q.workspace);
    const subject = state.account(q.user) ?? userNotFound(q.user);
    // The order of the errors is the single check's: domain, workspace, then user.
    if (domain instanceof HttpError) out[i] = domain;
    else if (workspaceId instanceof HttpError) out[i] = workspaceId;
    else if (subject instanceof HttpError) out[i] = subject;
    else {
      const level = domain.usesLevels ? (q.level ?? 0) : 0;
      const d = decide(index, subject, domain.key as DomainKey, q.operation, workspaceId, level, now);
      tally.add(d);
      out[i] = resultOf(d, index, subject, domain, q.operation, workspaceId, level);
    }
  }
  tally.record();
  return out;
}

/** What `resolve` finds, or the HttpError it throws (a batch answers each item's error in its place). */
function orError<A, T>(resolve: (index: AccessIndex, arg: A) => T, index: AccessIndex, arg: A): T | HttpError {
  try {
    return resolve(index, arg);
  } catch (err) {
    if (err instanceof HttpError) return err;
    throw err;
  }
}

function resultOf(d: Decision, index: AccessIndex, subject: SubjectWithName, domain: DomainInput, operation: Operation, workspaceId: number, level: number): CheckResult {
  return { allowed: d.allowed, reason: d.reason, decidedBy: d.decidedBy, matched: d.matched, explanation: d.explanation, index, subject, domain, operation, workspaceId, level };
}

// ---- effective permissions (the explorer grid) ----------------------------------------------------------

export interface EffectiveRow {
  domain: DomainInput;
  cells: Record<Operation, Decision>;
}

export interface EffectivePermissions {
  index: AccessIndex;
  subject: SubjectWithName;
  workspaceId: number;
  workspacePath: string;
  level: number;
  rows: EffectiveRow[];
}

/** Every domain × R/M/C/D for one user on one workspace (element level for Processes, default 0). */
export async function effectivePermissions(
  db: Db,
  user: string | number,
  workspace: string | number,
  level = 0,
  now = Date.now(),
): Promise<EffectivePermissions> {
  const state = await decisionState(db);
  const workspaceId = resolveWorkspace(state.index, workspace);
  const subject = state.account(user);
  if (!subject) throw userNotFound(user);
  return effectiveFor(state.index, subject, workspaceId, level, now);
}

/** The grid from an index and a loaded subject (pure). */
export function effectiveFor(index: AccessIndex, subject: Subject & Partial<SubjectWithName>, workspaceId: number, level = 0, now = 0): EffectivePermissions {
  const rows = index.domains().map((domain) => {
    const cells = {} as Record<Operation, Decision>;
    for (const op of OPERATIONS) cells[op] = decide(index, subject, domain.key as DomainKey, op, workspaceId, domain.usesLevels ? level : 0, now);
    return { domain, cells };
  });
  return {
    index,
    subject: { firstName: '', lastName: '', ...subject },
    workspaceId,
    workspacePath: index.workspacePath(workspaceId),
    level,
    rows,
  };
}

// ---- the reverse view ------------------------------------------------------------------------------------

export interface WhoMayOptions {
  /** true: the users allowed; false: every other user (denied by account, rule, default or license). */
  allowed: boolean;
  limit: number;
  offset: number;
  /** Type-ahead filter on username / name / email. */
  q?: string;
  /** Only users whose lower-cased username sorts after this one (keyset paging for cursors; `offset` then counts from there). */
  after?: string;
  level?: number;
  now?: number;
}

export interface WhoMayUser {
  id: number;
  username: string;
  firstName: string;
  lastName: string;
  decision: Decision;
}

export interface WhoMayResult {
  index: AccessIndex;
  domain: DomainInput;
  operation: Operation;
  workspaceId: number;
  workspacePath: string;
  level: number;
  allowed: boolean;
  total: number;
  users: WhoMayUser[];
}

/**
 * Who may (or may not) do `op` in `domain` on a workspace, paged by username. Computed from the groups
 * whose rules match (in the index) and one SQL query over users and memberships — never by deciding for
 * every user; only the page's users are then decided one by one (from the decision state), for their explanation.
 */
export async function whoMay(db: Db, domain: string, op: Operation, workspace: string | number, options: WhoMayOptions): Promise<WhoMayResult> {
  const state = await decisionState(db);
  const index = state.index;
  const d = resolveDomain(index, domain);
  const workspaceId = resolveWorkspace(index, workspace);
  const level = d.usesLevels ? (options.level ?? 0) : 0;
  const now = options.now ?? Date.now();
  const classes = index.groupClasses(d.key, op, workspaceId, level);
  const { ids, total } = await repo.whoMay(
    db,
    {
      highDeny: classes.filter((c) => c.highDeny).map((c) => c.groupId),
      highAllow: classes.filter((c) => c.highAllow).map((c) => c.groupId),
      lowDeny: classes.filter((c) => c.lowDeny).map((c) => c.groupId),
      lowAllow: classes.filter((c) => c.lowAllow).map((c) => c.groupId),
      licensesAllowing: index.licensesAllowing(d.key, op),
      now,
      allowed: options.allowed,
      q: options.q,
    },
    options.limit,
    options.offset,
    options.after,
  );
  const users: WhoMayUser[] = [];
  for (const id of ids) {
    const s = state.account(id);
    if (!s) continue; // removed between the two queries
    users.push({ id, username: s.username, firstName: s.firstName, lastName: s.lastName, decision: decide(index, s, d.key as DomainKey, op, workspaceId, level, now) });
  }
  return { index, domain: d, operation: op, workspaceId, workspacePath: index.workspacePath(workspaceId), level, allowed: options.allowed, total, users };
}
