/** The domain catalog in the console: Superusers only (the seeded domains are shown, read-only). */
import type Koa from 'koa';
import { SUPERUSER, get, idParam, post } from '../http/routing';
import { page, redirectTo } from '../http/render';
import { flash } from '../http/session';
import { removalFlow } from '../http/removal';
import { actorOf } from '../http/auth';
import { HttpError, notFound } from '../http/errors';
import * as repo from './repo';
import * as service from './service';
import type { Domain } from './repo';

type Body = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : '');

async function list(ctx: Koa.Context) {
  const domains = (await repo.all(ctx.services.db)).map((d) => ({ ...d, builtIn: service.isBuiltIn(d) }));
  page(ctx, 'domains/list', { title: 'Domains', domains });
}

interface FormState {
  values?: { name: string; key: string; usesLevels: boolean };
  errors?: Record<string, string>;
  message?: string;
  status?: number;
}

function form(ctx: Koa.Context, domain: Domain | undefined, state: FormState = {}) {
  const values = state.values ?? (domain ? { name: domain.name, key: domain.key, usesLevels: domain.usesLevels } : { name: '', key: '', usesLevels: false });
  page(ctx, 'domains/form', { title: domain ? `Edit domain ${domain.name}` : 'Add domain', domain, values, errors: state.errors ?? {}, message: state.message }, state.status ?? 200);
}

async function editable(ctx: Koa.Context): Promise<Domain> {
  const d = await repo.findById(ctx.services.db, idParam(ctx));
  if (!d) throw notFound('Domain');
  return d;
}

/** Saves from the form: the list with a message, or the form again with every field's message. */
async function save(ctx: Koa.Context, domain: Domain | undefined) {
  const body = (ctx.request.body ?? {}) as Body;
  const input = { name: str(body.name), key: str(body.key), usesLevels: str(body.usesLevels) === 'on' };
  try {
    const d = domain ? await service.updateDomain(ctx.services.db, actorOf(ctx), domain.id, input) : await service.createDomain(ctx.services.db, actorOf(ctx), input);
    flash(ctx, 'success', domain ? `Domain ${d.name} saved.` : `Domain ${d.name} added (key ${d.key}).`);
    redirectTo(ctx, '/domains');
  } catch (e) {
    if (!(e instanceof HttpError) || e.status >= 500 || e.status === 404) throw e;
    form(ctx, domain, { values: input, errors: e.fields, message: e.message, status: e.status });
  }
}

const removal = removalFlow<number>({
  view: 'domains/remove',
  load: async (ctx) => (await editable(ctx)).id,
  async data(ctx, id) {
    const info = await service.removalInfo(ctx.services.db, id);
    return { title: `Remove ${info.domain.name}`, info };
  },
  async remove(ctx, id) {
    const d = await service.removeDomain(ctx.services.db, actorOf(ctx), id);
    return { message: `Domain ${d.name} removed.`, redirect: '/domains' };
  },
});

export const routes = [
  get('/domains', SUPERUSER, list),
  get('/domains/new', SUPERUSER, (ctx) => form(ctx, undefined)),
  post('/domains/new', SUPERUSER, (ctx) => save(ctx, undefined)),
  get('/domains/:id', SUPERUSER, async (ctx) => {
    const d = await editable(ctx);
    if (service.isBuiltIn(d)) return redirectTo(ctx, '/domains');
    form(ctx, d);
  }),
  post('/domains/:id', SUPERUSER, async (ctx) => save(ctx, await editable(ctx))),
  get('/domains/:id/delete', SUPERUSER, removal.confirm),
  post('/domains/:id/delete', SUPERUSER, removal.remove),
];
