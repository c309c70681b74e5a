import type Koa from 'koa';
import { requireRecentAuth } from '../auth/reauth';
import { can, get, post, SUPERUSER } from '../http/routing';
import { P } from '../permissions/catalog';
import { page, redirectTo } from '../http/render';
import { flash } from '../http/session';
import { actorOf } from '../http/auth';
import { HttpError, notFound } from '../http/errors';
import { asArray } from '../http/forms';
import { OPERATIONS, OPERATION_NAMES, type Operation } from '../access/catalog';
import * as repo from './repo';
import type { LicenseType } from './repo';
import * as service from './service';

const manage = can(P.usersManage);

/** Seats assigned, the limit and what remains, per license type; and the caps table. */
export async function overview(db: Parameters<typeof repo.all>[0]) {
  const [licenses, counts, domains, caps] = await Promise.all([repo.all(db), repo.seatCounts(db), repo.domains(db), repo.capsTable(db)]);
  return {
    licenses: licenses.map((l) => {
      const used = counts.get(l.id) ?? 0;
      return { ...l, used, remaining: l.seatLimit === null ? null : Math.max(0, l.seatLimit - used) };
    }),
    domains,
    caps,
  };
}

async function renderLicenses(ctx: Koa.Context, opts: { errors?: Record<string, Record<string, string>>; values?: Record<string, string>; status?: number; message?: string } = {}) {
  page(
    ctx,
    'licenses/index',
    {
      title: 'Licenses',
      ...(await overview(ctx.services.db)),
      operations: OPERATIONS,
      operationNames: OPERATION_NAMES,
      editable: ctx.state.user!.isSuperuser,
      errors: opts.errors ?? {},
      values: opts.values ?? {},
      message: opts.message,
    },
    opts.status ?? 200,
  );
}

async function show(ctx: Koa.Context) {
  await renderLicenses(ctx);
}

async function findLicense(ctx: Koa.Context): Promise<LicenseType> {
  const key = String((ctx as unknown as { params: Record<string, string> }).params.key ?? '');
  const l = /^[a-z_]{1,40}$/.test(key) ? await repo.findByKey(ctx.services.db, key) : undefined;
  if (!l) throw notFound('License type');
  return l;
}

async function saveSeatLimit(ctx: Koa.Context) {
  if (!requireRecentAuth(ctx, '/licenses')) return;
  const license = await findLicense(ctx);
  const b = (ctx.request.body ?? {}) as Record<string, unknown>;
  try {
    const saved = await service.setSeatLimit(ctx.services.db, actorOf(ctx), license.id, b);
    flash(ctx, 'success', saved.seatLimit === null ? `${saved.name} now has unlimited seats.` : `${saved.name} is limited to ${saved.seatLimit.toLocaleString('en-US')} seats.`);
    redirectTo(ctx, `/licenses#license-${license.key}`);
  } catch (e) {
    if (!(e instanceof HttpError) || e.status >= 500 || e.status === 404) throw e;
    const fields = Object.keys(e.fields).length ? e.fields : { seatLimit: e.message };
    await renderLicenses(ctx, {
      errors: { [license.key]: fields },
      values: { [license.key]: typeof b.seatLimit === 'string' ? b.seatLimit : '' },
      status: e.status,
      message: `${license.name}: ${e.code === 'conflict' ? e.message : 'the seat limit was not saved.'}`,
    });
  }
}

async function capsForm(ctx: Koa.Context) {
  page(ctx, 'licenses/caps', { title: 'Edit license caps', ...(await overview(ctx.services.db)), operations: OPERATIONS, operationNames: OPERATION_NAMES });
}

/**
 * Saves the caps form: for each cell, the operations ticked are compared with those shown when the form
 * was opened (`was_…`), and only the differences are applied, so a concurrent edit of another cell or
 * operation is kept.
 */
async function saveCaps(ctx: Koa.Context) {
  const { db } = ctx.services;
  const b = (ctx.request.body ?? {}) as Record<string, unknown>;
  const { licenses, domains } = await overview(db);
  const ops = new Set<string>(OPERATIONS);
  const changes: service.CapChange[] = [];
  for (const l of licenses) {
    for (const d of domains) {
      const name = `${l.key}:${d.key}`;
      if (b[`was:${name}`] === undefined) continue;
      const was = new Set(String(b[`was:${name}`]).split('').filter((o) => ops.has(o)));
      const now = new Set(asArray(b[`cap:${name}`]).filter((o) => ops.has(o)));
      const add = [...now].filter((o) => !was.has(o)) as Operation[];
      const remove = [...was].filter((o) => !now.has(o)) as Operation[];
      if (add.length || remove.length) changes.push({ licenseTypeId: l.id, domainKey: d.key, add, remove });
    }
  }
  const n = await service.changeCaps(db, actorOf(ctx), changes);
  flash(ctx, n ? 'success' : 'info', n ? `Saved ${n} license cap change${n === 1 ? '' : 's'}. Access decisions use them from now on.` : 'No caps were changed.');
  redirectTo(ctx, '/licenses#caps');
}

export const routes = [
  get('/licenses', manage, show),
  get('/licenses/caps', SUPERUSER, capsForm),
  post('/licenses/caps', SUPERUSER, saveCaps),
  post('/licenses/:key/seats', SUPERUSER, saveSeatLimit),
];
