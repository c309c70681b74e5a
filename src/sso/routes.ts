import type Koa from 'koa';
import { get, PUBLIC } from '../http/routing';
import { page } from '../http/render';
import { HttpError } from '../http/errors';
import { sessionData } from '../http/session';
import { startSession } from '../auth/startSession';
import type { SsoConfig } from './config';
import { beginFlow, completeFlow, SsoProtocolError, type SsoFlow } from './oidc';
import { recordFailure, signInWithSso, SsoRefusal } from './service';

/** How long a started sign-in may take at the provider before its state is forgotten. */
const FLOW_TTL_MS = 15 * 60_000;
const FLOW_KEY = 'ssoFlow';

function ssoConfig(ctx: Koa.Context): SsoConfig {
  const sso = ctx.services.config.sso;
  // Without configuration there is nothing at these addresses.
  if (!sso) throw new HttpError(404, 'not_found', 'There is nothing at this address.');
  return sso;
}

function failurePage(ctx: Koa.Context, sso: SsoConfig, status: number, message: string) {
  page(ctx, 'sso/failed', { title: 'Single sign-on failed', providerName: sso.providerName, message }, status);
}

/** GET /sso/login: remembers state, nonce and PKCE verifier in the session and sends the browser to the provider. */
async function start(ctx: Koa.Context) {
  const sso = ssoConfig(ctx);
  if (ctx.state.user) {
    ctx.redirect('/');
    return;
  }
  try {
    const { url, flow } = await beginFlow(sso);
    sessionData(ctx)[FLOW_KEY] = flow;
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 303;
    ctx.redirect(url);
  } catch (err) {
    if (!(err instanceof SsoProtocolError)) throw err;
    await recordFailure(ctx.services.db, ctx.ip, { reason: err.reason, message: err.message, detail: err.detail, issuer: sso.issuer });
    failurePage(ctx, sso, err.status, err.message);
  }
}

function takeFlow(ctx: Koa.Context): SsoFlow | null {
  const s = sessionData(ctx);
  const flow = s[FLOW_KEY] as SsoFlow | undefined;
  // One use only: a replayed callback finds nothing.
  delete s[FLOW_KEY];
  if (!flow || typeof flow.state !== 'string' || typeof flow.nonce !== 'string' || typeof flow.codeVerifier !== 'string') return null;
  if (typeof flow.startedAt !== 'number' || Date.now() - flow.startedAt > FLOW_TTL_MS) return null;
  return flow;
}

/** GET /sso/callback: the provider's answer. Validates it, then signs the account in (creating it the first time). */
async function callback(ctx: Koa.Context) {
  const sso = ssoConfig(ctx);
  const { db } = ctx.services;
  const flow = takeFlow(ctx);
  if (!flow) {
    const message = 'This sign-in was not started in this browser, or it took too long. Start again.';
    await recordFailure(db, ctx.ip, { reason: 'no_sign_in_in_progress', message, issuer: sso.issuer });
    return failurePage(ctx, sso, 400, message);
  }
  try {
    const identity = await completeFlow(sso, flow, ctx.querystring ? `?${ctx.querystring}` : '');
    const { user } = await signInWithSso(db, sso, identity, ctx.ip);
    const next = await startSession(ctx, user.id);
    ctx.status = 303;
    ctx.redirect(next);
  } catch (err) {
    if (err instanceof SsoProtocolError) {
      await recordFailure(db, ctx.ip, { reason: err.reason, message: err.message, detail: err.detail, issuer: sso.issuer });
      return failurePage(ctx, sso, err.status, err.message);
    }
    if (err instanceof SsoRefusal) {
      await recordFailure(db, ctx.ip, { reason: err.reason, message: err.message, user: err.user, issuer: sso.issuer });
      return failurePage(ctx, sso, err.status, err.message);
    }
    throw err;
  }
}

export const routes = [get('/sso/login', PUBLIC, start), get('/sso/callback', PUBLIC, callback)];
