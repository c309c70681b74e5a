import type Koa from 'koa';
import Joi from 'joi';
import { can, get, patch, put, SUPERUSER } from '../http/routing';
import { P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { validate } from '../http/forms';
import { HttpError, notFound } from '../http/errors';
import { DOMAINS, OPERATIONS, type Operation } from '../access/catalog';
import type { Conn } from '../db/connect';
import * as repo from './repo';
import type { LicenseType } from './repo';
import * as service from './service';
import { overview } from './routes';

const manage = can(P.usersManage);
const strict = { allowUnknown: false, status: 400 } as const;

function licenseJson(l: LicenseType, used: number) {
  return {
    key: l.key,
    name: l.name,
    description: l.description,
    seatLimit: l.seatLimit,
    seatsAssigned: used,
    seatsRemaining: l.seatLimit === null ? null : Math.max(0, l.seatLimit - used),
    version: l.version,
  };
}

function body(ctx: Koa.Context): Record<string, unknown> {
  const b = ctx.request.body;
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new HttpError(400, 'malformed_body', 'Send a JSON object.');
  return b as Record<string, unknown>;
}

async function findLicense(ctx: Koa.Context): Promise<LicenseType> {
  const key = String((ctx as unknown as { params: Record<string, string> }).params.key ?? '');
  const l = /^[a-z_]{1,40}$/.test(key) ? await repo.findByKey(ctx.services.db, key) : undefined;
  if (!l) throw notFound('License type');
  return l;
}

async function capsJson(db: Conn, l: LicenseType) {
  const { domains, caps } = await overview(db);
  const row = caps.get(l.id);
  return { license: { key: l.key, name: l.name }, caps: Object.fromEntries(domains.map((d) => [d.key, row?.get(d.id) ?? ''])) };
}

/** The same page wrapper as every other list (a short list, but a generic client pages it like the others). */
const listQuery = Joi.object({
  limit: Joi.number().integer().min(1).max(500).default(100).label('limit'),
  offset: Joi.number().integer().min(0).max(10_000_000).default(0).label('offset'),
});

async function listLicenses(ctx: Koa.Context) {
  const q = validate<{ limit: number; offset: number }>(listQuery, ctx.query, strict);
  const { licenses } = await overview(ctx.services.db);
  const rows = licenses.slice(q.offset, q.offset + q.limit);
  ctx.body = {
    items: rows.map((l) => licenseJson(l, l.used)),
    total: licenses.length,
    limit: q.limit,
    offset: q.offset,
    nextOffset: q.offset + rows.length < licenses.length ? q.offset + rows.length : null,
  };
}

async function getLicense(ctx: Koa.Context) {
  const l = await findLicense(ctx);
  ctx.body = licenseJson(l, await repo.seatsAssigned(ctx.services.db, l.id));
}

async function patchLicense(ctx: Koa.Context) {
  const l = await findLicense(ctx);
  const input = validate<{ seatLimit: number | null; version?: number }>(
    Joi.object({
      seatLimit: Joi.number().integer().min(0).max(10_000_000).allow(null).required().label('seatLimit'),
      version: Joi.number().integer().min(1).max(2147483647).label('version'),
    }),
    body(ctx),
    strict,
  );
  const saved = await service.setSeatLimit(ctx.services.db, actorOf(ctx), l.id, input);
  ctx.body = licenseJson(saved, await repo.seatsAssigned(ctx.services.db, saved.id));
}

async function getCaps(ctx: Koa.Context) {
  ctx.body = await capsJson(ctx.services.db, await findLicense(ctx));
}

const opsString = Joi.string()
  .allow('')
  .max(4)
  .pattern(/^[RMCD]*$/)
  .messages({ 'string.pattern.base': '{#label} must be letters of R, M, C and D (e.g. "RM"), or "" for none.' });

async function putCaps(ctx: Koa.Context) {
  const l = await findLicense(ctx);
  const input = validate<{ caps: Record<string, string> }>(
    Joi.object({ caps: Joi.object(Object.fromEntries(DOMAINS.map((d) => [d.key, opsString.label(`caps.${d.key}`)]))).required().label('caps') }),
    body(ctx),
    strict,
  );
  const caps: Record<string, Operation[]> = {};
  for (const [k, v] of Object.entries(input.caps)) caps[k] = OPERATIONS.filter((o) => v.includes(o));
  const changed = await service.replaceCaps(ctx.services.db, actorOf(ctx), l.id, caps);
  ctx.body = { ...(await capsJson(ctx.services.db, l)), changed };
}

export const apiRoutes = [
  get('/licenses', manage, listLicenses),
  get('/licenses/:key', manage, getLicense),
  patch('/licenses/:key', SUPERUSER, patchLicense),
  get('/licenses/:key/caps', manage, getCaps),
  put('/licenses/:key/caps', SUPERUSER, putCaps),
];
