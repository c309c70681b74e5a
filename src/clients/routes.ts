/** The console's machine clients, under Settings (Superusers only). */
import type Koa from 'koa';
import Joi from 'joi';
import { SUPERUSER, get, idParam, post } from '../http/routing';
import { page, redirectTo } from '../http/render';
import { flash } from '../http/session';
import { removalFlow } from '../http/removal';
import { actorOf } from '../http/auth';
import { HttpError, ValidationError, notFound } from '../http/errors';
import { validate } from '../http/forms';
import { requireRecentAuth } from '../auth/reauth';
import * as reveal from '../account/reveal';
import * as repo from './repo';
import * as service from './service';
import type { MachineClient } from './repo';
import { SCOPES, SCOPE_LABELS } from './scopes';

const BASE = '/settings/clients';
const PAGE_SIZE = 50;

const body = (ctx: Koa.Context) => (ctx.request.body ?? {}) as Record<string, unknown>;

/** The form's values as the form shows them again (scopes as a list, whatever the browser sent). */
const formValues = (b: Record<string, unknown>) => ({ ...b, scopes: (service.scopesOf(b.scopes) as string[] | undefined) ?? [] });

const listQuery = Joi.object({ q: Joi.string().trim().max(48).allow(''), page: Joi.number().integer().min(1).max(1_000_000).default(1) });

async function list(ctx: Koa.Context) {
  let f: { q?: string; page: number };
  let filterError: string | undefined;
  try {
    f = validate(listQuery, ctx.query);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    f = { page: 1 };
    filterError = 'The search was not understood and has been reset.';
  }
  const { rows, total } = await repo.list(ctx.services.db, { q: f.q }, PAGE_SIZE, (f.page - 1) * PAGE_SIZE);
  page(ctx, 'clients/list', { title: 'Machine clients', rows, total, pages: Math.max(1, Math.ceil(total / PAGE_SIZE)), filters: f, filterError });
}

function newForm(ctx: Koa.Context, values: Record<string, unknown> = { scopes: ['decisions'] }, errors: Record<string, string> = {}, status = 200) {
  page(ctx, 'clients/new', { title: 'New machine client', values, errors, scopes: SCOPES, scopeLabels: SCOPE_LABELS }, status);
}

async function create(ctx: Koa.Context) {
  const b = body(ctx);
  try {
    const c = await service.createClient(ctx.services.db, actorOf(ctx), b);
    flash(ctx, 'success', `Client “${c.name}” created. Issue it a token to let it call the API.`);
    redirectTo(ctx, `${BASE}/${c.id}`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    newForm(ctx, formValues(b), e.fields, e.status);
  }
}

async function load(ctx: Koa.Context): Promise<MachineClient> {
  const c = await repo.findById(ctx.services.db, idParam(ctx));
  if (!c) throw notFound('Client');
  return c;
}

interface DetailForms {
  values?: Record<string, unknown>;
  errors?: Record<string, string>;
  tokenValues?: Record<string, unknown>;
  tokenErrors?: Record<string, string>;
  status?: number;
}

async function renderDetail(ctx: Koa.Context, client: MachineClient, forms: DetailForms = {}) {
  page(
    ctx,
    'clients/show',
    {
      title: client.name,
      client,
      tokens: await repo.tokensOf(ctx.services.db, client.id),
      now: Date.now(),
      values: forms.values ?? { name: client.name, description: client.description, owner: client.ownerUsername, scopes: client.scopes, rateLimitPerMinute: client.rateLimitPerMinute ?? '' },
      errors: forms.errors ?? {},
      tokenValues: forms.tokenValues ?? {},
      tokenErrors: forms.tokenErrors ?? {},
      scopes: SCOPES,
      scopeLabels: SCOPE_LABELS,
    },
    forms.status ?? 200,
  );
}

async function show(ctx: Koa.Context) {
  await renderDetail(ctx, await load(ctx));
}

async function update(ctx: Koa.Context) {
  const client = await load(ctx);
  const b = body(ctx);
  try {
    // A form without any scope ticked sends no `scopes` at all: that is "none", which the rule refuses. An
    // emptied rate limit is "no limit".
    const { name, description, owner } = b;
    const rateLimitPerMinute = b.rateLimitPerMinute === '' || b.rateLimitPerMinute === undefined ? null : b.rateLimitPerMinute;
    await service.updateClient(ctx.services.db, actorOf(ctx), client.id, { name, description, owner, rateLimitPerMinute, scopes: b.scopes ?? [] });
    flash(ctx, 'success', 'Client saved.');
    redirectTo(ctx, `${BASE}/${client.id}`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await renderDetail(ctx, client, { values: formValues(b), errors: e.fields, status: e.status });
  }
}

const setStatus = (status: 'active' | 'disabled') => async (ctx: Koa.Context) => {
  const client = await load(ctx);
  await service.setStatus(ctx.services.db, actorOf(ctx), client.id, status);
  flash(ctx, 'success', status === 'disabled' ? `Client “${client.name}” disabled: its tokens are refused until it is enabled again.` : `Client “${client.name}” enabled.`);
  redirectTo(ctx, `${BASE}/${client.id}`);
};

async function issueToken(ctx: Koa.Context) {
  const client = await load(ctx);
  if (!requireRecentAuth(ctx, `${BASE}/${client.id}`)) return;
  const b = body(ctx);
  try {
    const issued = await service.issueToken(ctx.services.db, actorOf(ctx), client.id, b);
    // Shown once, on the page the redirect leads to: a reload there makes no second token.
    reveal.stash(ctx, 'client-token', { token: issued.token, name: issued.name, clientId: client.id }, BASE);
    redirectTo(ctx, `${BASE}/${client.id}/tokens/created`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await renderDetail(ctx, client, { tokenValues: b, tokenErrors: e.fields, status: e.status });
  }
}

async function showIssuedToken(ctx: Koa.Context) {
  const client = await load(ctx);
  const issued = reveal.take<{ token: string; name: string; clientId: number }>(ctx, 'client-token', BASE);
  if (!issued || issued.clientId !== client.id) {
    flash(ctx, 'info', 'A new token is shown only once, right after it is issued.');
    return redirectTo(ctx, `${BASE}/${client.id}#tokens`);
  }
  page(ctx, 'clients/token-created', { title: 'Token issued', client, newToken: issued });
}

async function revokeToken(ctx: Koa.Context) {
  const client = await load(ctx);
  try {
    await service.revokeToken(ctx.services.db, actorOf(ctx), client.id, idParam(ctx, 'tokenId'));
    flash(ctx, 'success', 'The token is revoked.');
  } catch (e) {
    if (!(e instanceof HttpError) || e.status !== 409) throw e;
    flash(ctx, 'error', e.message);
  }
  redirectTo(ctx, `${BASE}/${client.id}#tokens`);
}

const removal = removalFlow<MachineClient>({
  view: 'clients/remove',
  load,
  data: async (ctx, client) => ({ title: `Delete ${client.name}`, client, liveTokens: (await repo.tokensOf(ctx.services.db, client.id)).filter((t) => !t.revokedAt).length }),
  async remove(ctx, client) {
    const removed = await service.removeClient(ctx.services.db, actorOf(ctx), client.id);
    return { message: `Client “${removed.name}” deleted with its tokens.`, redirect: BASE };
  },
});

export const routes = [
  get(BASE, SUPERUSER, list),
  get(`${BASE}/new`, SUPERUSER, (ctx) => newForm(ctx)),
  post(`${BASE}/new`, SUPERUSER, create),
  get(`${BASE}/:id`, SUPERUSER, show),
  post(`${BASE}/:id`, SUPERUSER, update),
  post(`${BASE}/:id/disable`, SUPERUSER, setStatus('disabled')),
  post(`${BASE}/:id/enable`, SUPERUSER, setStatus('active')),
  post(`${BASE}/:id/tokens`, SUPERUSER, issueToken),
  get(`${BASE}/:id/tokens/created`, SUPERUSER, showIssuedToken),
  post(`${BASE}/:id/tokens/:tokenId/revoke`, SUPERUSER, revokeToken),
  get(`${BASE}/:id/delete`, SUPERUSER, removal.confirm),
  post(`${BASE}/:id/delete`, SUPERUSER, removal.remove),
];
