/**
 * The decision over JSON:
 *   POST /api/v1/check                 {"user","domain","operation","workspace","level"?} → a decision
 *   POST /api/v1/check/batch           {"checks":[…up to 1,000]} → {"results":[…]} in order. A question that
 *                                      cannot be answered (unknown user/domain/workspace, malformed item)
 *                                      gets {"error":{"status","code","message","details"}} in its place;
 *                                      the batch itself fails (400) only when its envelope is malformed.
 *   GET  /api/v1/users/:username/effective-permissions?workspace=/Root/X[&level=N] → domains × R/M/C/D.
 * They answer questions about other users, so they need `access.manage` (besides `api.access`).
 */
import type Koa from 'koa';
import Joi from 'joi';
import { can, get, post } from '../http/routing';
import { P } from '../permissions/catalog';
import { validate } from '../http/forms';
import { HttpError, ValidationError } from '../http/errors';
import { MAX_LEVEL, OPERATIONS, type Operation } from './catalog';
import type { AccessIndex } from './accessIndex';
import { opsString, type Decision, type Rule } from './engine';
import * as service from './service';

const manage = can(P.accessManage);
export const MAX_BATCH = 1000;

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

export function decisionJson(index: AccessIndex, d: Decision) {
  return {
    allowed: d.allowed,
    reason: d.reason,
    decidedBy: d.decidedBy ? ruleJson(index, d.decidedBy) : null,
    matched: d.matched.map((r) => ruleJson(index, r)),
    explanation: d.explanation,
  };
}

const CHECK_FIELDS = new Set(['user', 'domain', 'operation', 'workspace', 'level']);

function text(v: unknown, label: string, max: number, fields: Record<string, string>): string | undefined {
  if (v === undefined || v === null) fields[label] = `${label} is required.`;
  else if (typeof v !== 'string') fields[label] = `${label} must be text.`;
  else if (!v.trim()) fields[label] = `${label} is required.`;
  else if (v.trim().length > max) fields[label] = `${label} must be at most ${max} characters.`;
  else return v.trim();
  return undefined;
}

/**
 * Validates one question of the check API: {user, domain, operation, workspace, level?}. Hand-written
 * rather than Joi because a batch validates up to 1,000 of them (Joi spends ~100 µs on each); the
 * messages follow src/http/forms.ts. Throws ValidationError (400) with a message per field.
 */
export function parseCheck(input: unknown): CheckBody {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw new HttpError(400, 'malformed_body', 'Send a JSON object.');
  const b = input as Record<string, unknown>;
  const fields: Record<string, string> = {};
  for (const k of Object.keys(b)) if (!CHECK_FIELDS.has(k)) fields[k] = `${k} is not a known field.`;
  const user = text(b.user, 'user', 64, fields);
  const domain = text(b.domain, 'domain', 100, fields);
  let operation: Operation | undefined;
  const op = typeof b.operation === 'string' ? b.operation.trim().toUpperCase() : b.operation;
  if (op === undefined || op === null || op === '') fields.operation = 'operation is required.';
  else if (typeof op !== 'string' || !(OPERATIONS as readonly string[]).includes(op)) fields.operation = 'operation must be one of R, M, C, D.';
  else operation = op as Operation;
  let workspace: string | number | undefined;
  if (typeof b.workspace === 'number') {
    if (Number.isInteger(b.workspace) && b.workspace >= 1 && b.workspace <= 2147483647) workspace = b.workspace;
    else fields.workspace = 'workspace must be a path like /Root/Sales or a workspace id.';
  } else if (b.workspace !== undefined && b.workspace !== null && typeof b.workspace !== 'string') {
    fields.workspace = 'workspace must be a path like /Root/Sales or a workspace id.';
  } else {
    workspace = text(b.workspace, 'workspace', 2000, fields);
  }
  let level: number | undefined;
  if (b.level !== undefined && b.level !== null) {
    if (typeof b.level !== 'number' || !Number.isInteger(b.level)) fields.level = 'level must be a whole number from 0 to 9.';
    else if (b.level < 0 || b.level > MAX_LEVEL) fields.level = `level must be from 0 to ${MAX_LEVEL}.`;
    else level = b.level;
  }
  if (Object.keys(fields).length) throw new ValidationError(fields, undefined, 400);
  return { user: user!, domain: domain!, operation: operation!, workspace: workspace!, level };
}

export interface CheckBody {
  user: string;
  domain: string;
  operation: Operation;
  workspace: string | number;
  level?: number | null;
}

function objectBody(ctx: Koa.Context): Record<string, unknown> {
  const b = ctx.request.body;
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new HttpError(400, 'malformed_body', 'Send a JSON object.');
  return b as Record<string, unknown>;
}

function toQuery(b: CheckBody): service.CheckQuery {
  return { user: b.user, domain: b.domain, operation: b.operation, workspace: b.workspace, level: b.level ?? undefined };
}

async function checkOne(ctx: Koa.Context) {
  const b = parseCheck(ctx.request.body);
  const result = await service.check(ctx.services.db, toQuery(b));
  ctx.body = decisionJson(result.index, result);
}

const batchSchema = Joi.object({
  checks: Joi.array().items(Joi.any()).min(1).max(MAX_BATCH).required().label('checks'),
});

function errorJson(err: HttpError) {
  return {
    error: {
      status: err.status,
      code: err.code,
      message: err.message,
      details: Object.keys(err.fields).length ? { fields: err.fields } : null,
    },
  };
}

async function checkBatch(ctx: Koa.Context) {
  const { checks } = validate<{ checks: unknown[] }>(batchSchema, objectBody(ctx), { allowUnknown: false, status: 400 });
  // Validate each item on its own: a bad item answers with its error, the others are still decided.
  const parsed = checks.map((item): service.CheckQuery | HttpError => {
    try {
      if (!item || typeof item !== 'object' || Array.isArray(item)) throw new HttpError(400, 'malformed_body', 'Each check must be a JSON object.');
      return toQuery(parseCheck(item));
    } catch (err) {
      if (err instanceof HttpError) return err;
      throw err;
    }
  });
  const valid = parsed.filter((p): p is service.CheckQuery => !(p instanceof HttpError));
  const answers = await service.checkMany(ctx.services.db, valid);
  let next = 0;
  ctx.body = {
    results: parsed.map((p) => {
      const a = p instanceof HttpError ? p : answers[next++];
      return a instanceof HttpError ? errorJson(a) : decisionJson(a.index, a);
    }),
  };
}

const effectiveQuery = Joi.object({
  workspace: Joi.string().trim().min(1).max(2000).label('workspace'),
  level: Joi.number().integer().min(0).max(MAX_LEVEL).default(0).label('level'),
});

async function effective(ctx: Koa.Context) {
  const username = String((ctx as unknown as { params: Record<string, string> }).params.username ?? '');
  const q = validate<{ workspace?: string; level: number }>(effectiveQuery, ctx.query, { allowUnknown: false, status: 400 });
  const { db } = ctx.services;
  const index = await service.getIndex(db);
  // A path; digits that name no path are read as a workspace id.
  const workspace =
    q.workspace === undefined
      ? index.rootIds()[0]
      : /^\d{1,10}$/.test(q.workspace) && index.workspaceByPath(q.workspace) === undefined
        ? Number(q.workspace)
        : q.workspace;
  if (workspace === undefined) throw new HttpError(404, 'workspace_not_found', 'There are no workspaces yet.');
  const grid = await service.effectivePermissions(db, username, workspace, q.level);
  ctx.body = {
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
}

export const apiRoutes = [
  post('/check', manage, checkOne),
  post('/check/batch', manage, checkBatch),
  get('/users/:username/effective-permissions', manage, effective),
];
