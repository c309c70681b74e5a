/**
 * AuthZEN 1.0 over Gatehouse's decision engine (the mapping: src/authzen/mapping.ts). Evaluations decide
 * exactly as POST /api/v1/check does (the same index, subjects and engine); searches list what individual
 * evaluations would allow, completely, in pages with opaque cursors.
 */
import { createHash } from 'node:crypto';
import type { Db } from '../db/connect';
import { headPosition } from '../changes/service';
import { ValidationError } from '../http/errors';
import { OPERATIONS, type Operation } from '../access/catalog';
import type { AccessIndex, DomainInput } from '../access/accessIndex';
import { decide, type DomainKey } from '../access/engine';
import * as access from '../access/service';
import type { SubjectWithName } from '../access/service';
import { DecisionTally, recordDecision } from '../ops/decisions';
import {
  SUBJECT_TYPE,
  actionNamesOf,
  decisionContext,
  levelOf,
  operationOf,
  resourceIdOf,
  undecidedContext,
  workspaceOf,
  type DecisionContext,
} from './mapping';

export interface Entity {
  type: string;
  id: string;
  properties?: Record<string, unknown>;
}
export interface Action {
  name: string;
  properties?: Record<string, unknown>;
}
export interface Evaluation {
  subject: Entity;
  action: Action;
  resource: Entity;
  context?: Record<string, unknown>;
}
export interface EvaluationAnswer {
  decision: boolean;
  context: DecisionContext;
}

/** An item of a batch's answer: its context only when explained, undecidable or the one that stopped the batch. */
export interface BatchAnswer {
  decision: boolean;
  context?: DecisionContext | { code: string; reason: string };
}

export type Semantic = 'execute_all' | 'deny_on_first_deny' | 'permit_on_first_permit';

// ---- freshness -------------------------------------------------------------------------------------------

/** How long a decision waits for the change log to reach a consistency token before answering anyway. */
export const CONSISTENCY_WAIT_MS = 1000;

/**
 * Answers no earlier than the change log holds `token` (a position a write returned), waiting at most
 * CONSISTENCY_WAIT_MS: on a replicated database a write made through another node may not be visible yet.
 * The index itself follows the newest position on every request (src/access/service.ts).
 */
export async function awaitFreshness(db: Db, token: number | undefined): Promise<void> {
  if (token === undefined) return;
  const deadline = Date.now() + CONSISTENCY_WAIT_MS;
  while ((await headPosition(db)) < token && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** A consistency token from `context.consistency_token` or the header: a non-negative integer, else a 400. */
export function consistencyToken(context: Record<string, unknown> | undefined, header: string | undefined): number | undefined {
  const raw = context?.consistency_token ?? header;
  if (raw === undefined || raw === null || raw === '') return undefined;
  const text = String(raw).trim();
  if (!/^\d{1,15}$/.test(text)) throw new ValidationError({ 'context.consistency_token': 'A consistency token is the position a write returned: digits only.' }, 'The consistency token is malformed.', 400, 'bad_request');
  return Number(text);
}

/** A single evaluation without one of its entities: the whole request is a 400. */
export function missingEntity(message: string): never {
  throw new ValidationError({ _: message }, message, 400, 'bad_request');
}

// ---- evaluations -----------------------------------------------------------------------------------------

interface Resolved {
  subject: SubjectWithName;
  domain: DomainInput;
  op: Operation;
  workspaceId: number;
  level: number;
}

interface Lookups {
  subject(id: string): SubjectWithName | undefined;
  domain(type: string): DomainInput | undefined;
  workspace(resourceId: string): number | undefined;
}

/** The Gatehouse question an evaluation asks, or why it cannot be asked. */
/** The lookups of one evaluation, straight from the state (a class: no closures made per decision). */
class StateLookups implements Lookups {
  constructor(
    private readonly index: AccessIndex,
    private readonly state: { account(ref: string): SubjectWithName | undefined },
  ) {}
  subject(id: string): SubjectWithName | undefined {
    const name = id.trim();
    return name && name.length <= 64 ? this.state.account(name) : undefined;
  }
  domain(type: string): DomainInput | undefined {
    return this.index.findDomain(type);
  }
  workspace(resourceId: string): number | undefined {
    return workspaceOf(this.index, resourceId);
  }
}

function resolveWith(find: Lookups, e: Evaluation): Resolved | DecisionContext {
  if (e.subject.type !== SUBJECT_TYPE) return undecidedContext(404, `Gatehouse decides for subjects of type "${SUBJECT_TYPE}" only, not "${e.subject.type}".`);
  const subject = find.subject(e.subject.id);
  if (!subject) return undecidedContext(404, `There is no user "${e.subject.id}".`);
  const op = operationOf(e.action.name);
  if (!op) return undecidedContext(404, `There is no action "${e.action.name}": use read, modify (or write), create or delete.`);
  const domain = find.domain(e.resource.type);
  if (!domain) return undecidedContext(404, `There is no domain "${e.resource.type}" (the resource type names a domain by key or name).`);
  const workspaceId = find.workspace(e.resource.id);
  if (workspaceId === undefined) return undecidedContext(404, `There is no workspace "${e.resource.id}" (give its external key, path or id).`);
  const level = levelOf(e.resource.properties);
  if ('problem' in level) return undecidedContext(400, level.problem);
  return { subject, domain, op, workspaceId, level: domain.usesLevels ? level.level : 0 };
}

function answer(index: AccessIndex, lookups: Lookups, e: Evaluation, now: number): EvaluationAnswer {
  const q = resolveWith(lookups, e);
  if (!('op' in q)) return { decision: false, context: q };
  const d = decide(index, q.subject, q.domain.key as DomainKey, q.op, q.workspaceId, q.level, now);
  recordDecision(d);
  return { decision: d.allowed, context: decisionContext(index, d) };
}

/** One evaluation. */
export async function evaluate(db: Db, e: Evaluation, now = Date.now()): Promise<EvaluationAnswer> {
  const state = await access.getState(db);
  return answer(state.index, new StateLookups(state.index, state), e, now);
}

/**
 * Many evaluations, answered in order under one semantic. An item that lacks an entity (after the defaults)
 * is `undefined` here and answers false with a 400 error in its context. The short-circuiting semantics stop
 * after the first deny (or permit), which closes the answer list.
 *
 * `explain`: each decided item carries its context (reason_user, reason_admin) as a single evaluation does;
 * without it a decided item is `{decision}` alone (the spec's context is optional) — building and sending
 * the explanations cost several times the decisions. Undecidable items keep their `context.error`, and the
 * item that stops `deny_on_first_deny` its `context.reason`, either way. Each distinct subject, action,
 * resource type and resource id of the batch is resolved once.
 */
export async function evaluateMany(
  db: Db,
  items: Array<Evaluation | { missing: string }>,
  semantic: Semantic,
  now = Date.now(),
  explain = true,
): Promise<BatchAnswer[]> {
  const state = await access.getState(db);
  const index = state.index;
  const lookups = new BatchLookups(index, state);
  const tally = new DecisionTally();
  const out: BatchAnswer[] = [];
  for (let i = 0; i < items.length; i++) {
    const e = items[i];
    let a: BatchAnswer;
    if ('missing' in e) a = { decision: false, context: undecidedContext(400, e.missing) };
    else {
      const q = resolveWith(lookups, e);
      if (!('op' in q)) a = { decision: false, context: q };
      else {
        const d = decide(index, q.subject, q.domain.key as DomainKey, q.op, q.workspaceId, q.level, now, explain);
        tally.add(d);
        a = explain ? { decision: d.allowed, context: decisionContext(index, d) } : { decision: d.allowed };
      }
    }
    out.push(a);
    if (semantic === 'deny_on_first_deny' && !a.decision) {
      a.context = Object.assign(a.context ?? {}, { code: '200', reason: 'deny_on_first_deny' });
      break;
    }
    if (semantic === 'permit_on_first_permit' && a.decision) break;
  }
  tally.record();
  return out;
}

/** The lookups of a batch: as one evaluation's, with each distinct domain resolved once (a batch names few). */
class BatchLookups extends StateLookups {
  private readonly domains = new Map<string, DomainInput | undefined>();
  override domain(type: string): DomainInput | undefined {
    if (this.domains.has(type)) return this.domains.get(type);
    const found = super.domain(type);
    this.domains.set(type, found);
    return found;
  }
}

// ---- search paging ---------------------------------------------------------------------------------------

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

export interface PageRequest {
  token?: string;
  limit?: number;
}

export interface SearchPage<T> {
  page: { next_token: string; count: number; total: number };
  results: T[];
}

interface Cursor {
  /** What the search was about: a page token only continues the same search. */
  f: string;
  /** Where the next page starts (the last result's sort key). */
  a: string;
  /** The page size of the search. */
  l: number;
}

/** A fingerprint of a search's entities (everything but the page), for tokens that continue only it. */
function fingerprint(kind: string, parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify([kind, ...parts])).digest('base64url').slice(0, 22);
}

const badToken = () => new ValidationError({ 'page.token': 'This page token does not continue this search: send the same subject, action, resource and context as the request that returned it.' }, 'The page token does not belong to this search.', 400, 'bad_request');

function readCursor(page: PageRequest | undefined, print: string): { after?: string; limit: number } {
  const wanted = page?.limit && page.limit > 0 ? Math.min(page.limit, MAX_PAGE) : undefined;
  if (!page?.token) return { limit: wanted ?? DEFAULT_PAGE };
  let c: Cursor;
  try {
    c = JSON.parse(Buffer.from(page.token, 'base64url').toString('utf8')) as Cursor;
  } catch {
    throw badToken();
  }
  if (!c || typeof c !== 'object' || c.f !== print || typeof c.a !== 'string' || typeof c.l !== 'number') throw badToken();
  return { after: c.a, limit: wanted ?? c.l };
}

const writeCursor = (c: Cursor) => Buffer.from(JSON.stringify(c), 'utf8').toString('base64url');

/** A page of sorted results after the cursor: at most `limit`, with a token when more follow. */
function pageOf<T>(sorted: Array<{ key: string; value: T }>, after: string | undefined, limit: number, print: string): SearchPage<T> {
  const start = after === undefined ? 0 : sorted.findIndex((x) => x.key > after);
  const rest = start < 0 ? [] : sorted.slice(start);
  const shown = rest.slice(0, limit);
  const more = rest.length > shown.length;
  return {
    page: { next_token: more ? writeCursor({ f: print, a: shown[shown.length - 1].key, l: limit }) : '', count: shown.length, total: sorted.length },
    results: shown.map((x) => x.value),
  };
}

const empty = <T>(): SearchPage<T> => ({ page: { next_token: '', count: 0, total: 0 }, results: [] });

// ---- searches --------------------------------------------------------------------------------------------

export interface SubjectSearch {
  subject: { type: string };
  action: Action;
  resource: Entity;
  context?: Record<string, unknown>;
  page?: PageRequest;
}

/** Who may: every user an evaluation would allow, by username (lower-cased: unique), paged. */
export async function searchSubjects(db: Db, s: SubjectSearch, now = Date.now()): Promise<SearchPage<{ type: string; id: string }>> {
  const print = fingerprint('subject', [s.subject.type, s.action.name, s.resource.type, s.resource.id, s.resource.properties?.level ?? null, s.context ?? null]);
  const { after, limit } = readCursor(s.page, print);
  if (s.subject.type !== SUBJECT_TYPE) return empty();
  const index = await access.getIndex(db);
  const op = operationOf(s.action.name);
  const domain = index.findDomain(s.resource.type);
  const workspaceId = workspaceOf(index, s.resource.id);
  const level = levelOf(s.resource.properties);
  if ('problem' in level) throw new ValidationError({ 'resource.properties.level': level.problem }, level.problem, 400, 'bad_request');
  if (!op || !domain || workspaceId === undefined) return empty();
  const found = await access.whoMay(db, domain.key, op, workspaceId, { allowed: true, limit: limit + 1, offset: 0, after, level: level.level, now });
  const users = found.users.slice(0, limit);
  const more = found.users.length > limit;
  return {
    page: { next_token: more ? writeCursor({ f: print, a: users[users.length - 1].username.toLowerCase(), l: limit }) : '', count: users.length, total: found.total },
    results: users.map((u) => ({ type: SUBJECT_TYPE, id: u.username })),
  };
}

export interface ResourceSearch {
  subject: Entity;
  action: Action;
  resource: { type: string; properties?: Record<string, unknown> };
  context?: Record<string, unknown>;
  page?: PageRequest;
}

/** What can (where): every workspace an evaluation would allow, in workspace id order, paged. */
export async function searchResources(db: Db, s: ResourceSearch, now = Date.now()): Promise<SearchPage<{ type: string; id: string }>> {
  const print = fingerprint('resource', [s.subject.type, s.subject.id, s.action.name, s.resource.type, s.resource.properties?.level ?? null, s.context ?? null]);
  const { after, limit } = readCursor(s.page, print);
  if (s.subject.type !== SUBJECT_TYPE) return empty();
  const index = await access.getIndex(db);
  const op = operationOf(s.action.name);
  const domain = index.findDomain(s.resource.type);
  const level = levelOf(s.resource.properties);
  if ('problem' in level) throw new ValidationError({ 'resource.properties.level': level.problem }, level.problem, 400, 'bad_request');
  const subject = await access.loadSubject(db, s.subject.id);
  if (!op || !domain || !subject) return empty();
  const allowed: Array<{ key: string; value: { type: string; id: string } }> = [];
  const ids = index
    .workspaces()
    .map((w) => w.id)
    .sort((a, b) => a - b);
  for (const id of ids) {
    if (decide(index, subject, domain.key as DomainKey, op, id, domain.usesLevels ? level.level : 0, now, false).allowed) {
      // Keys sort as text: zero-padded ids keep the numeric order.
      allowed.push({ key: String(id).padStart(10, '0'), value: { type: s.resource.type, id: resourceIdOf(index, id) } });
    }
  }
  return pageOf(allowed, after, limit, print);
}

export interface ActionSearch {
  subject: Entity;
  resource: Entity;
  context?: Record<string, unknown>;
  page?: PageRequest;
}

/** Which actions: every name of every operation an evaluation would allow (Modify: "modify" and "write"). */
export async function searchActions(db: Db, s: ActionSearch, now = Date.now()): Promise<SearchPage<{ name: string }>> {
  const print = fingerprint('action', [s.subject.type, s.subject.id, s.resource.type, s.resource.id, s.resource.properties?.level ?? null, s.context ?? null]);
  const { after, limit } = readCursor(s.page, print);
  if (s.subject.type !== SUBJECT_TYPE) return empty();
  const index = await access.getIndex(db);
  const domain = index.findDomain(s.resource.type);
  const workspaceId = workspaceOf(index, s.resource.id);
  const level = levelOf(s.resource.properties);
  if ('problem' in level) throw new ValidationError({ 'resource.properties.level': level.problem }, level.problem, 400, 'bad_request');
  const subject = await access.loadSubject(db, s.subject.id);
  if (!domain || workspaceId === undefined || !subject) return empty();
  const names: Array<{ key: string; value: { name: string } }> = [];
  OPERATIONS.forEach((op, i) => {
    if (decide(index, subject, domain.key as DomainKey, op, workspaceId, domain.usesLevels ? level.level : 0, now, false).allowed) {
      actionNamesOf(op).forEach((name, j) => names.push({ key: `${i}${j}`, value: { name } }));
    }
  });
  return pageOf(names, after, limit, print);
}
