import type Koa from 'koa';
import Joi from 'joi';
import { can, get } from '../http/routing';
import { P } from '../permissions/catalog';
import { fragment, page, wantsFragment } from '../http/render';
import { validate } from '../http/forms';
import { ValidationError } from '../http/errors';
import * as repo from './repo';
import { eventJson } from './service';
import { actionLabel, collectIds, describeChange, objectTypeLabel, type NameKind } from './describe';
import { csvDate, sendCsv } from '../http/csv';

const PAGE_SIZE = 50;
const EXPORT_LIMIT = 100_000;

const filterSchema = Joi.object({
  actor: Joi.string().trim().max(64).allow(''),
  action: Joi.string().trim().max(64).allow(''),
  type: Joi.string().trim().max(40).allow(''),
  object: Joi.string().trim().max(255).allow(''),
  from: Joi.date().iso().empty('').label('From'),
  to: Joi.date().iso().empty('').label('To'),
  before: Joi.string().pattern(/^[0-9]{1,16}\.[1-9][0-9]{0,18}$/).empty(''),
  format: Joi.string().valid('csv', 'json').empty(''),
});

interface AuditQuery {
  actor?: string;
  action?: string;
  type?: string;
  object?: string;
  from?: Date;
  to?: Date;
  before?: string;
  format?: 'csv' | 'json';
}

function toFilter(q: AuditQuery): repo.AuditFilter {
  return {
    actor: q.actor || undefined,
    action: q.action || undefined,
    objectType: q.type || undefined,
    object: q.object || undefined,
    from: q.from ? q.from.getTime() : undefined,
    // "To" is a day: include all of it.
    to: q.to ? q.to.getTime() + 86400_000 : undefined,
  };
}

function parseJson(text: string | null): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function readQuery(ctx: Koa.Context): { q: AuditQuery; errors: Record<string, string> } {
  try {
    return { q: validate<AuditQuery>(filterSchema, ctx.query), errors: {} };
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return { q: {}, errors: e.fields };
  }
}

async function list(ctx: Koa.Context) {
  const { db } = ctx.services;
  const { q, errors } = readQuery(ctx);
  const rows = await repo.list(db, toFilter(q), PAGE_SIZE + 1, repo.parsePosition(q.before));
  const hasMore = rows.length > PAGE_SIZE;
  const events = rows.slice(0, PAGE_SIZE);
  const parsed = events.map((ev) => ({ before: parseJson(ev.before_json), after: parseJson(ev.after_json) }));
  const ids: Record<NameKind, Set<number>> = { group: new Set(), workspace: new Set(), role: new Set(), license: new Set(), user: new Set() };
  collectIds(parsed.flatMap((p) => [p.before, p.after]), ids);
  const names = await repo.namesOf(db, ids);
  const data = {
    title: 'Audit log',
    events: events.map((ev, i) => ({
      ...ev,
      actionLabel: actionLabel(ev.action),
      typeLabel: objectTypeLabel(ev.object_type),
      changes: describeChange(parsed[i].before, parsed[i].after, names),
    })),
    hasMore,
    nextBefore: hasMore ? repo.positionToken(events[events.length - 1]) : undefined,
    q: { ...ctx.query, before: undefined },
    errors,
    actions: (await repo.distinctActions(db)).map((a) => ({ value: a, label: actionLabel(a) })).sort((a, b) => a.label.localeCompare(b.label)),
    types: (await repo.distinctObjectTypes(db)).map((t) => ({ value: t, label: objectTypeLabel(t) })),
  };
  if (wantsFragment(ctx, 'audit-results')) return fragment(ctx, 'audit/_results', data);
  page(ctx, 'audit/list', data);
}

/** Every event the filters match, newest first, streamed in keyset pages (CSV through the shared writer). */
async function exportEvents(ctx: Koa.Context) {
  const { q } = readQuery(ctx);
  const { db } = ctx.services;
  const filter = toFilter(q);
  const stamp = new Date().toISOString().slice(0, 10);
  if (q.format === 'json') {
    const rows = await repo.list(db, filter, EXPORT_LIMIT);
    ctx.type = 'application/json';
    ctx.attachment(`audit-${stamp}.json`);
    ctx.body = rows.map(eventJson);
    return;
  }
  sendCsv(
    ctx,
    `audit-${stamp}.csv`,
    ['id', 'time', 'actor', 'action', 'object_type', 'object_id', 'object', 'before', 'after', 'ip'],
    (async function* () {
      let before: repo.AuditPosition | undefined;
      for (;;) {
        const rows = await repo.list(db, filter, 1000, before);
        if (!rows.length) return;
        yield rows.map((r) => [r.id, csvDate(r.at), r.actor_username, r.action, r.object_type, r.object_id, r.object_label, r.before_json, r.after_json, r.ip]);
        const last = rows[rows.length - 1];
        before = { at: Number(last.at), id: Number(last.id) };
      }
    })(),
  );
}

const auditors = can(P.usersManage, P.accessManage);

export const routes = [get('/audit', auditors, list), get('/audit/export', auditors, exportEvents)];
