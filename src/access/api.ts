/**
 * The decision over JSON (one definition per operation, src/api/operation.ts):
 *   POST /api/v1/check         {"user","domain","operation","workspace","level"?} → a decision
 *   POST /api/v1/check/batch   {"checks":[…up to 1,000]} → {"results":[…]} in order. The batch is validated
 *                              as a whole like any request (a malformed question is a 422 naming
 *                              `checks.<n>.<field>`); a question naming a user, domain or workspace that
 *                              does not exist gets {"error":{…}} in its place and the others are decided.
 *   GET  /api/v1/users/:username/effective-permissions?workspace=/Root/X[&level=N] → domains × R/M/C/D.
 * They answer questions about other users, so they need `access.manage` (besides `api.access`).
 * All three are answered from memory (src/access/state.ts) and take a consistency token (header
 * `Gatehouse-Consistency-Token`, or `consistencyToken` in a POST body): the answer then reflects every write
 * up to that change-log position, waiting at most CONSISTENCY_WAIT_MS, else 503 with Retry-After.
 */
import Joi from 'joi';
import { can } from '../http/routing';
import { P } from '../permissions/catalog';
import { HttpError, ValidationError } from '../http/errors';
import { CONSISTENCY_HEADER, operation } from '../api/operation';
import { CONSISTENCY_WAIT_MS } from '../changes/follower';
import { awaitConsistency, awaitConsistencyIn } from '../api/auth';
import { component, flag, list, record, text, usernameParam } from '../api/schemas';
import { PermissionSchema } from '../domainPermissions/api';
import { MAX_LEVEL, OPERATIONS, type Operation } from './catalog';
import type { AccessIndex } from './accessIndex';
import { opsString, type Decision, type Rule } from './engine';
import * as service from './service';

const manage = can(P.accessManage);
const TAG = 'Access decisions';
export const MAX_BATCH = 1000;

// ------------------------------------------------------------------------------------------------ schemas

export interface CheckBody {
  user: string;
  domain: string;
  operation: Operation;
  workspace: string | number;
  level?: number | null;
}

const QUESTION = {
  user: Joi.string().trim().min(1).max(64).required().description('Username.'),
  domain: Joi.string().trim().min(1).max(100).required().description('Domain name or key, e.g. "Processes".'),
  operation: Joi.string().trim().uppercase().valid(...OPERATIONS).required().description('R, M, C or D.').messages({ 'any.only': 'operation must be one of R, M, C, D.' }),
  workspace: Joi.alternatives()
    .try(Joi.number().integer().min(1).max(2147483647).description('Workspace id.'), Joi.string().trim().min(1).max(2000).description('Workspace path, e.g. "/Root/Sales".'))
    .required()
    .messages({ 'alternatives.types': 'workspace must be a path like /Root/Sales or a workspace id.' }),
  level: Joi.number().integer().min(0).max(MAX_LEVEL).allow(null).description(`Processes only: the level of the process (0–${MAX_LEVEL}).`),
};

/** One question: may this user perform this operation in this domain on this workspace? */
export const CheckRequest = component('CheckRequest', Joi.object<CheckBody>(QUESTION).description('A question: may this user perform this operation in this domain on this workspace?'));

const CONSISTENCY_TOKEN = Joi.string()
  .pattern(/^[0-9]{1,15}$/)
  .description(`A consistency token from a write's \`${CONSISTENCY_HEADER}\` response header: the answer reflects that write (waiting up to ${CONSISTENCY_WAIT_MS / 1000} s, else 503).`)
  .example('1042');

const TOKEN_HEADERS = { [CONSISTENCY_HEADER]: CONSISTENCY_TOKEN };

/** The single check's body: a question, and optionally the consistency token it must be at least as fresh as. */
const CheckOneRequest = component(
  'CheckOneRequest',
  Joi.object<CheckBody & { consistencyToken?: string }>({ ...QUESTION, consistencyToken: CONSISTENCY_TOKEN }).description('A question, optionally with a consistency token.'),
);

// A question already in the form CheckRequest produces — what a program sends. Checked by hand, field by
// field, so a batch of 1,000 skips 1,000 passes of the schema (the schema still judges everything else).
const CHECK_FIELDS = new Set(['user', 'domain', 'operation', 'workspace', 'level']);
const OPERATION_LETTERS = new Set<unknown>(OPERATIONS);
const isTrimmedText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max && v.trim() === v;
const isId = (v: unknown) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 2147483647;

export function isCanonicalCheck(q: unknown): q is CheckBody {
  if (typeof q !== 'object' || q === null || Array.isArray(q)) return false;
  for (const key of Object.keys(q)) if (!CHECK_FIELDS.has(key)) return false;
  const c = q as Record<string, unknown>;
  return (
    isTrimmedText(c.user, 64) &&
    isTrimmedText(c.domain, 100) &&
    OPERATION_LETTERS.has(c.operation) &&
    // A path: a string the schema could read as a number ("12") it would convert, so only "/…" is taken.
    (isId(c.workspace) || (isTrimmedText(c.workspace, 2000) && c.workspace.startsWith('/'))) &&
    (c.level === undefined || c.level === null || (Number.isInteger(c.level) && (c.level as number) >= 0 && (c.level as number) <= MAX_LEVEL))
  );
}

export function isCanonicalBatch(b: unknown): b is { checks: CheckBody[] } {
  if (typeof b !== 'object' || b === null || Array.isArray(b)) return false;
  const keys = Object.keys(b);
  const checks = (b as { checks?: unknown }).checks;
  return keys.length === 1 && Array.isArray(checks) && checks.length >= 1 && checks.length <= MAX_BATCH && checks.every(isCanonicalCheck);
}

const DecisionSchema = component(
  'Decision',
  record(
    {
      allowed: flag(),
      reason: text(
        '`account`: the user is deactivated, locked or without a license; `rule`: a matching permission decided; `default`: no permission matched (deny); `license`: the license type caps the operation.',
      ).valid('account', 'rule', 'default', 'license'),
      decidedBy: PermissionSchema.allow(null),
      matched: list(PermissionSchema, 'Every matching permission, the deciding one first, then by precedence (High Deny, High Allow, Low Deny, Low Allow).'),
      explanation: text('The decision in one sentence.'),
    },
    'A decision with its explanation.',
  ),
);

const CheckItemError = component(
  'CheckItemError',
  record(
    {
      error: record({
        status: Joi.number().integer().min(400).max(499).description('The status the same question would get from POST /check.'),
        code: text(),
        message: text(),
        details: record({ fields: Joi.object().pattern(Joi.string(), Joi.string()) }).allow(null),
      }),
    },
    'In a batch, the answer to a question that could not be decided: a user, domain or workspace that does not exist.',
  ),
);

const EffectivePermissions = component(
  'EffectivePermissions',
  record({
    user: text(),
    workspace: text('The workspace path.'),
    level: Joi.number().integer().min(0).max(MAX_LEVEL),
    domains: list(
      record({
        domain: text('Domain name.'),
        key: text('Domain key.'),
        usesLevels: flag(),
        allowed: text('The operations allowed, e.g. "RM".').pattern(/^R?M?C?D?$/),
        operations: record(Object.fromEntries(OPERATIONS.map((op) => [op, DecisionSchema])), 'The decision for each operation.'),
      }),
    ),
  }),
);

/** A permission as the API shows it: names and paths rather than ids. */
export function ruleJson(index: AccessIndex, r: Rule) {
  return {
    id: r.id,
    group: r.groupName,
    effect: r.effect,
    domain: index.domainName(r.domainKey),
    workspace: index.workspacePath(r.workspaceId),
    transitive: r.transitive,
    operations: opsString(r.ops),
    level: r.level,
    priority: r.priority,
  };
}

/**
 * A decision as the API shows it. `rules` (one per answer) shows each permission once: a batch's decisions
 * often name the same permissions, and the answer then shares their JSON.
 */
export function decisionJson(index: AccessIndex, d: Decision, rules?: Map<Rule, ReturnType<typeof ruleJson>>) {
  // No closure per call: this runs once per decision on the hot path.
  let matched: Array<ReturnType<typeof ruleJson>> = [];
  if (d.matched.length) {
    matched = new Array(d.matched.length);
    for (let i = 0; i < d.matched.length; i++) matched[i] = cachedRuleJson(index, d.matched[i], rules);
  }
  return {
    allowed: d.allowed,
    reason: d.reason,
    decidedBy: d.decidedBy ? cachedRuleJson(index, d.decidedBy, rules) : null,
    matched,
    explanation: d.explanation,
  };
}

/** A rule's JSON, made once per batch when the batch keeps a cache. */
function cachedRuleJson(index: AccessIndex, r: Rule, rules: Map<Rule, ReturnType<typeof ruleJson>> | undefined) {
  if (!rules) return ruleJson(index, r);
  let j = rules.get(r);
  if (!j) rules.set(r, (j = ruleJson(index, r)));
  return j;
}

const toQuery = (b: CheckBody): service.CheckQuery => ({ user: b.user, domain: b.domain, operation: b.operation, workspace: b.workspace, level: b.level ?? undefined });

/**
 * A user, domain or workspace a question names that does not exist: by the API's rule (a missing object
 * named in the body) a 422 on that field.
 */
function asFieldError(err: unknown): unknown {
  const type = err instanceof HttpError && err.code === 'not_found' ? (err.details as { type?: string } | undefined)?.type : undefined;
  return type === 'user' || type === 'domain' || type === 'workspace' ? new ValidationError({ [type]: err instanceof Error ? err.message : '' }) : err;
}

const checkOne = operation({
  operationId: 'check',
  method: 'POST',
  path: '/check',
  tag: TAG,
  summary: 'Check a permission',
  description: "The decision and its explanation: the user's account and license, then the domain permissions of the user's groups on the workspace and its ancestors.",
  requires: manage,
  consistency: 'decisions',
  body: CheckOneRequest,
  headers: TOKEN_HEADERS,
  // A canonical question carries no consistency token (that field sends the body through the schema).
  canonicalBody: isCanonicalCheck as (b: unknown) => b is CheckBody & { consistencyToken?: string },
  example: { user: 'jane.doe', domain: 'Processes', operation: 'M', workspace: '/Root/Sales', level: 2 },
  responses: { 200: { description: 'The decision.', schema: DecisionSchema } },
  errors: {
    422: 'A missing or malformed field, or a user, domain or workspace that does not exist (on that field).',
    503: `A consistency token was sent and this server's state did not reach it within ${CONSISTENCY_WAIT_MS / 1000} s.`,
  },
  async decide({ db }, { body }) {
    // The header's token was awaited by the authentication; the body's is awaited here.
    if (body.consistencyToken !== undefined) await awaitConsistencyIn(db, body.consistencyToken);
    try {
      const result = await service.check(db, toQuery(body));
      return decisionJson(result.index, result);
    } catch (err) {
      throw asFieldError(err);
    }
  },
});

function errorJson(err: HttpError) {
  return { error: { status: err.status, code: err.code, message: err.message, details: Object.keys(err.fields).length ? { fields: err.fields } : null } };
}

const checkBatch = operation({
  operationId: 'checkBatch',
  method: 'POST',
  path: '/check/batch',
  tag: TAG,
  summary: 'Check many permissions',
  description: `Up to ${MAX_BATCH} questions in one request; the answers come in the same order. The request is validated as a whole (a malformed question is a 422 naming \`checks.<n>.<field>\`); a question naming a user, domain or workspace that does not exist gets an error in its place, and the others are still decided.`,
  requires: manage,
  consistency: 'decisions',
  body: Joi.object<{ checks: CheckBody[]; consistencyToken?: string }>({
    checks: Joi.array().items(CheckRequest).min(1).max(MAX_BATCH).required().label('checks'),
    consistencyToken: CONSISTENCY_TOKEN,
  }),
  headers: TOKEN_HEADERS,
  canonicalBody: isCanonicalBatch as (b: unknown) => b is { checks: CheckBody[]; consistencyToken?: string },
  example: {
    checks: [
      { user: 'jane.doe', domain: 'Processes', operation: 'R', workspace: '/Root/Sales' },
      { user: 'jane.doe', domain: 'Files', operation: 'D', workspace: '/Root/Sales' },
    ],
  },
  responses: {
    200: {
      description: 'One answer per question, in order.',
      schema: component('CheckBatchResult', record({ results: list(Joi.alternatives(DecisionSchema, CheckItemError)) })),
    },
  },
  errors: {
    422: 'No `checks` list, an empty one, more than 1,000, or a malformed question (`details.fields` names `checks.<n>.<field>`).',
    503: `A consistency token was sent and this server's state did not reach it within ${CONSISTENCY_WAIT_MS / 1000} s.`,
  },
  async decide({ db }, { body }) {
    // The header's token was awaited by the authentication; the body's is awaited here.
    if (body.consistencyToken !== undefined) await awaitConsistencyIn(db, body.consistencyToken);
    // The questions as they came (a CheckBody is a CheckQuery): no copy of 1,000 objects per batch.
    const answers = await service.checkMany(db, body.checks);
    const rules = new Map<Rule, ReturnType<typeof ruleJson>>();
    return { results: answers.map((a) => (a instanceof HttpError ? errorJson(asFieldError(a) as HttpError) : decisionJson(a.index, a, rules))) };
  },
});

const effective = operation({
  operationId: 'getEffectivePermissions',
  method: 'GET',
  path: '/users/:username/effective-permissions',
  tag: TAG,
  summary: 'Effective permissions of a user',
  description: 'Every domain × R/M/C/D decided for one user on one workspace (default: the root).',
  requires: manage,
  consistency: 'decisions',
  headers: TOKEN_HEADERS,
  params: Joi.object<{ username: string }>({ username: usernameParam }),
  query: Joi.object<{ workspace?: string; level: number }>({
    workspace: Joi.string().trim().min(1).max(2000).description('Workspace path (or id). Default: the root.').example('/Root/Sales'),
    level: Joi.number().integer().min(0).max(MAX_LEVEL).default(0).description('Processes level to decide for.'),
  }),
  async load(ctx, params) {
    // Fresh enough before the user is looked up: a user created through another server must be found.
    await awaitConsistency(ctx);
    const subject = await service.loadSubject(ctx.services.db, params.username);
    if (!subject) throw service.userNotFound(params.username);
    return subject;
  },
  responses: { 200: { description: 'The grid of decisions.', schema: EffectivePermissions } },
  errors: {
    422: 'A value out of range, or a `workspace` that does not exist.',
    503: `A consistency token was sent and this server's state did not reach it within ${CONSISTENCY_WAIT_MS / 1000} s.`,
  },
  async handler(ctx, { query, target }) {
    const { db } = ctx.services;
    const index = await service.getIndex(db);
    // A path; digits that name no path are read as a workspace id.
    const workspace =
      query.workspace === undefined
        ? index.rootIds()[0]
        : /^\d{1,10}$/.test(query.workspace) && index.workspaceByPath(query.workspace) === undefined
          ? Number(query.workspace)
          : query.workspace;
    if (workspace === undefined) throw new ValidationError({ workspace: 'There are no workspaces yet.' });
    const grid = await service.effectivePermissions(db, target.username, workspace, query.level).catch((err: unknown) => {
      throw asFieldError(err);
    });
    return {
      user: grid.subject.username,
      workspace: grid.workspacePath,
      level: grid.level,
      domains: grid.rows.map((row) => ({
        domain: row.domain.name,
        key: row.domain.key,
        usesLevels: row.domain.usesLevels,
        allowed: OPERATIONS.filter((op) => row.cells[op].allowed).join(''),
        operations: Object.fromEntries(OPERATIONS.map((op) => [op, decisionJson(grid.index, row.cells[op])])),
      })),
    };
  },
});

export const operations = [checkOne, checkBatch, effective];
