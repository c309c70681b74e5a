import type Koa from 'koa';
import { can, get, post } from '../http/routing';
import { P } from '../permissions/catalog';
import { page, redirectTo } from '../http/render';
import { actorOf } from '../http/auth';
import { ValidationError, notFound } from '../http/errors';
import { asArray } from '../http/forms';
import * as roles from '../roles/repo';
import * as licenses from '../licenses/repo';
import { assignmentBlocker } from '../roles/service';
import * as repo from './repo';
import * as bulk from './bulk';
import { FILTER_KEYS, describeFilters, readListFilters } from './listFilters';

const manage = can(P.usersManage);
const NAMES_PER_PAGE = 50;
/** How long the confirming request waits for a job before showing its progress page instead. */
const WAIT_FOR_JOB_MS = 1000;

function ids(value: unknown): number[] {
  const out: number[] = [];
  for (const part of asArray(value).join(',').split(',')) {
    const t = part.trim();
    if (/^[1-9][0-9]{0,9}$/.test(t) && Number(t) <= 2147483647) out.push(Number(t));
  }
  return [...new Set(out)];
}

interface Selection {
  scope: 'ids' | 'filter';
  ids: number[];
  /** Hidden fields that carry the selection to the next step. */
  fields: Array<[string, string]>;
  description: string;
  error?: string;
}

/** Ticked rows (`ids`), or every user the list's filters match (`scope=filter`). */
async function readSelection(ctx: Koa.Context, source: Record<string, unknown>): Promise<Selection> {
  const { db } = ctx.services;
  if (source.scope === 'filter') {
    const { query, filter, filterError } = await readListFilters(db, source);
    const fields: Array<[string, string]> = [['scope', 'filter']];
    for (const k of FILTER_KEYS) if (query[k] !== undefined && query[k] !== '') fields.push([k, String(query[k])]);
    const words = describeFilters(query, { roles: await roles.all(db), licenses: await licenses.all(db) });
    const description = words.length ? `all users matching ${words.join(', ')}` : 'all users';
    if (!filter) return { scope: 'filter', ids: [], fields, description, error: filterError };
    const found = await repo.idsMatching(db, filter, Date.now(), bulk.BULK_MAX_TARGETS + 1);
    if (found.length > bulk.BULK_MAX_TARGETS) {
      return { scope: 'filter', ids: [], fields, description, error: `More than ${bulk.BULK_MAX_TARGETS.toLocaleString('en-US')} users match: narrow the filters first.` };
    }
    return { scope: 'filter', ids: found, fields, description };
  }
  const chosen = ids(source.ids).slice(0, bulk.BULK_MAX_TARGETS);
  return {
    scope: 'ids',
    ids: chosen,
    fields: [['ids', chosen.join(',')]],
    description: `the ${chosen.length === 1 ? 'selected user' : `${chosen.length.toLocaleString('en-US')} selected users`}`,
    error: chosen.length ? undefined : 'Tick the users to change in the list first, or choose “all users matching the filters”.',
  };
}

function pageNumber(value: unknown): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 && n <= 100_000 ? n : 1;
}

async function renderPreview(ctx: Koa.Context, source: Record<string, unknown>, errors: Record<string, string> = {}, status = 200) {
  const { db } = ctx.services;
  const actor = actorOf(ctx);
  const selection = await readSelection(ctx, source);
  const action = typeof source.action === 'string' && source.action in bulk.BULK_ACTIONS ? (source.action as bulk.BulkActionKey) : undefined;
  let plan: bulk.BulkPlan | undefined;
  if (action && !selection.error && !Object.keys(errors).length) {
    try {
      const resolved = await bulk.resolveAction(db, actor, source);
      plan = await bulk.evaluate(db, actor, resolved, selection.ids);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      // A parameter whose field was not on the form yet is asked for, not reported as an error.
      errors = Object.fromEntries(Object.entries(e.fields).filter(([k]) => e.status === 403 || (source.previewed === '1' && k in source)));
    }
  }
  const allRoles = await roles.all(db);
  const assignable = [];
  for (const r of allRoles) if (!(await assignmentBlocker(db, actor, r))) assignable.push(r);
  const cpage = pageNumber(source.cpage);
  const spage = pageNumber(source.spage);
  const keep: Record<string, string> = {};
  for (const [k, v] of Object.entries(source)) if (typeof v === 'string' && !['cpage', 'spage', '_csrf'].includes(k)) keep[k] = v;
  page(
    ctx,
    'users/bulk/preview',
    {
      title: action ? bulk.BULK_ACTIONS[action].noun : 'Change many users',
      actions: bulk.BULK_ACTIONS,
      action,
      selection,
      values: {
        roleId: String(source.roleId ?? ''),
        licenseTypeId: String(source.licenseTypeId ?? ''),
        group: typeof source.group === 'string' ? source.group : '',
        assets: typeof source.assets === 'string' ? source.assets : '',
        transferTo: typeof source.transferTo === 'string' ? source.transferTo : '',
      },
      errors,
      plan,
      roles: assignable,
      licenses: await licenses.all(db),
      seatCounts: await licenses.seatCounts(db),
      perPage: NAMES_PER_PAGE,
      cpage: plan ? Math.min(cpage, Math.max(1, Math.ceil(plan.change.length / NAMES_PER_PAGE))) : 1,
      spage: plan ? Math.min(spage, Math.max(1, Math.ceil(plan.skipped.length / NAMES_PER_PAGE))) : 1,
      keep,
      skipLabels: bulk.SKIP_LABELS,
    },
    status,
  );
}

async function preview(ctx: Koa.Context) {
  await renderPreview(ctx, ctx.query as Record<string, unknown>);
}

async function confirm(ctx: Koa.Context) {
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  const planned = ids(body.planned);
  try {
    if (!planned.length) throw new ValidationError({ planned: 'Nobody would change: there is nothing to confirm.' });
    const job = await bulk.startJob(ctx.services.db, actorOf(ctx), body, planned);
    await Promise.race([job.finished, new Promise((resolve) => setTimeout(resolve, WAIT_FOR_JOB_MS))]);
    redirectTo(ctx, `/users/bulk/jobs/${job.id}`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await renderPreview(ctx, { ...body, previewed: '1' }, e.fields, e.status);
  }
}

async function showJob(ctx: Koa.Context) {
  const id = (ctx as unknown as { params: Record<string, string> }).params.job;
  const job = await bulk.jobView(ctx.services.db, id, actorOf(ctx));
  if (!job) throw notFound('Bulk action');
  // Without JavaScript too, the page follows the job: the browser reloads it until it has finished.
  if (job.state === 'running') ctx.set('Refresh', '1');
  ctx.set('Cache-Control', 'no-store');
  page(ctx, 'users/bulk/job', { title: job.state === 'running' ? 'Working…' : bulk.BULK_ACTIONS[job.action].noun, job, actions: bulk.BULK_ACTIONS, skipLabels: bulk.SKIP_LABELS });
}

export const bulkRoutes = [get('/users/bulk', manage, preview), post('/users/bulk', manage, confirm), get('/users/bulk/jobs/:job', manage, showJob)];
