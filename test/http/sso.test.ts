import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as userService from '../../src/users/service';
import { recordChange } from '../../src/changes/service';
import { transaction } from '../../src/db/transaction';
import { createApp, type GatehouseApp } from '../../src/app';
import type { SsoConfig } from '../../src/sso/config';
import { $, createTestApp, eachTestStartsFromSetUp, PASSWORD, type Agent, type TestApp } from '../support/app';
import { startTestProvider, throughProvider, type TestProvider } from '../support/oidc';

/**
 * Single sign-on against a real OpenID provider (oidc-provider) running in this process: the whole
 * redirect flow — Gatehouse → provider login page → Gatehouse callback → token endpoint → UserInfo.
 */

const REDIRECT = 'http://gatehouse.test/sso/callback';

let op: TestProvider;
let t: TestApp;
/** The same database, with linking by email switched on. */
let linking: GatehouseApp;
/** The same database, without single sign-on. */
let plain: GatehouseApp;

type Server = TestApp['server'];

beforeAll(async () => {
  op = await startTestProvider();
  op.configure(REDIRECT);
  t = await createTestApp({ sso: op.ssoConfig(REDIRECT) });
  await t.makeUser({ username: 'admin', role: 'superuser' });
});
afterAll(async () => {
  await t?.close();
  await op?.close();
});
eachTestStartsFromSetUp(() => t);
// The same database under other settings: linking by email on, single sign-on off.
beforeEach(async () => {
  linking = await createApp({ ...t.config, sso: op.ssoConfig(REDIRECT, { linkByEmail: true }) }, { db: t.db });
  plain = await createApp({ ...t.config, sso: undefined }, { db: t.db });
});
afterEach(async () => {
  op.expireIdTokens = false;
  await linking?.close();
  await plain?.close();
});

function person(login: string, claims: Record<string, unknown>) {
  op.accounts.set(login, claims);
}

interface RoundTrip {
  agent: Agent;
  /** Gatehouse's answer to the callback. */
  res: request.Response;
  authorizationUrl: URL;
  callbackUrl: URL;
}

/** A browser signing in through the provider, with optional tampering on either leg. */
async function ssoSignIn(
  login: string,
  options: { server?: Server; agent?: Agent; tamperRequest?: (u: URL) => void; tamperResponse?: (u: URL) => void; abort?: boolean } = {},
): Promise<RoundTrip> {
  const agent = options.agent ?? (request.agent(options.server ?? t.server) as Agent);
  const start = await agent.get('/sso/login');
  expect(start.status, start.text.slice(0, 300)).toBe(303);
  const authorizationUrl = new URL(start.headers.location);
  options.tamperRequest?.(authorizationUrl);
  const callbackUrl = await throughProvider(op, authorizationUrl, login, { abort: options.abort });
  expect(callbackUrl.href.startsWith(REDIRECT)).toBe(true);
  options.tamperResponse?.(callbackUrl);
  const res = await agent.get(callbackUrl.pathname + callbackUrl.search);
  return { agent, res, authorizationUrl, callbackUrl };
}

async function userRow(username: string) {
  return t.db('users').where('username_lower', username.toLowerCase()).first();
}

async function signedInAs(agent: Agent): Promise<string | null> {
  const res = await agent.get('/account');
  if (res.status !== 200) return null;
  return $(res.text)('.topbar-user a span').eq(1).text();
}

async function lastFailure() {
  const row = await t.db('audit_events').where({ action: 'auth.sso_failed' }).orderBy('id', 'desc').first();
  return row ? { ...row, after: JSON.parse(row.after_json) } : undefined;
}

/** Jane at the provider, with her account made by a first sign-in (just in time). */
async function janeSignedUp() {
  person('jane', { preferred_username: 'jane.doe', given_name: 'Jane', family_name: 'Doe', email: 'jane.doe@example.com', email_verified: true });
  const { res } = await ssoSignIn('jane');
  expect(res.status).toBe(303);
}

/** Mallory at the provider (she has no account here). */
function mallory() {
  person('mallory', { preferred_username: 'mallory', email: 'mallory@example.com' });
}

/** Carol: a local account, and at the provider under another username with the same (verified) email. */
async function carolLocalAndAtProvider() {
  await t.makeUser({ username: 'carol', email: 'carol@corp.example' });
  person('carol-idp', { preferred_username: 'carol.sso', given_name: 'Carol', family_name: 'Idp', email: 'Carol@corp.example', email_verified: true });
}

async function userCount(): Promise<number> {
  const r = await t.db('users').count({ n: '*' }).first();
  return Number(r?.n);
}

describe('when single sign-on is not configured', () => {
  it('answers 404 at /sso/* and the sign-in page offers only the password form', async () => {
    const anon = request.agent(plain.app.callback());
    expect((await anon.get('/sso/login')).status).toBe(404);
    const cb = await anon.get('/sso/callback?code=x&state=y');
    expect(cb.status).toBe(404);
    expect(cb.text).toContain('There is nothing at this address');
    const login = await anon.get('/login');
    expect(login.status).toBe(200);
    expect($(login.text)('a[href="/sso/login"]').length).toBe(0);
    expect($(login.text)('form[action="/login"] #f-password').length).toBe(1);
  });
});

describe('the sign-in page', () => {
  it('offers "Sign in with <provider>" and keeps the local form as break-glass', async () => {
    const res = await request(t.server).get('/login');
    const page = $(res.text);
    const button = page('a[href="/sso/login"]');
    expect(button.text().trim()).toBe('Sign in with Test IdP');
    expect(page('form[action="/login"] #f-username').length).toBe(1);
    expect(page('form[action="/login"] #f-password').length).toBe(1);
    // The local sign-in still works.
    const admin = await t.signIn('admin');
    expect(await signedInAs(admin)).toBe('admin');
  });

  it('starts the authorization-code flow with PKCE (S256), state and nonce', async () => {
    const agent = request.agent(t.server);
    const a = await agent.get('/sso/login');
    const b = await agent.get('/sso/login');
    expect(a.status).toBe(303);
    const url = new URL(a.headers.location);
    expect(url.origin).toBe(op.issuer);
    const p = url.searchParams;
    expect(p.get('response_type')).toBe('code');
    expect(p.get('client_id')).toBe(op.clientId);
    expect(p.get('redirect_uri')).toBe(REDIRECT);
    expect(p.get('scope')).toBe('openid profile email');
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('state')!.length).toBeGreaterThanOrEqual(32);
    expect(p.get('nonce')!.length).toBeGreaterThanOrEqual(32);
    // Fresh values every time; the verifier itself never leaves the server.
    const again = new URL(b.headers.location).searchParams;
    expect(again.get('state')).not.toBe(p.get('state'));
    expect(again.get('nonce')).not.toBe(p.get('nonce'));
    expect(again.get('code_challenge')).not.toBe(p.get('code_challenge'));
    expect(url.search).not.toContain('code_verifier');
  });
});

describe('just-in-time accounts', () => {
  it('creates the account on the first sign-in with the default role, its license and source SSO', async () => {
    person('jane', { preferred_username: 'jane.doe', given_name: 'Jane', family_name: 'Doe', email: 'jane.doe@example.com', email_verified: true });
    const before = await userCount();
    // She asked for a page first: after signing in she lands there.
    const agent = request.agent(t.server) as Agent;
    const guarded = await agent.get('/account');
    expect(guarded.headers.location).toBe('/login');
    const { res } = await ssoSignIn('jane', { agent });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/account');
    expect(await signedInAs(agent)).toBe('jane.doe');
    expect(await userCount()).toBe(before + 1);

    const u = await userRow('jane.doe');
    const role = await t.db('roles').where({ is_default: true }).first();
    expect(u.source).toBe('sso');
    expect(u.sso_subject).toBe(`${op.issuer}|jane`);
    expect(u.password_hash).toBeNull();
    expect(u.first_name).toBe('Jane');
    expect(u.last_name).toBe('Doe');
    expect(u.email).toBe('jane.doe@example.com');
    expect(u.role_id).toBe(role.id);
    expect(u.license_type_id).toBe(role.license_type_id);
    expect(Number(u.last_login_at)).toBeGreaterThan(0);

    const events = await t.db('audit_events').where({ object_id: String(u.id) }).orderBy('id');
    expect(events.map((e: { action: string }) => e.action)).toEqual(['user.create', 'auth.sign_in']);
    expect(JSON.parse(events[0].after_json)).toMatchObject({ source: 'sso', username: 'jane.doe' });
    expect(JSON.parse(events[1].after_json)).toEqual({ method: 'sso' });

    // My account says how she signs in and offers no password change.
    const account = $((await agent.get('/account')).text);
    expect(account('.facts').text()).toContain('Single sign-on');
    expect(account('form[action="/account/password"]').length).toBe(0);
  });

  it('shows the SSO badge in the user list and on the user page, which offers no password field', async () => {
    await janeSignedUp();
    const admin = await t.signIn('admin');
    const list = $((await admin.get('/users?q=jane')).text);
    const row = list('tbody tr').filter((_, el) => list(el).text().includes('jane.doe'));
    expect(row.length).toBe(1);
    expect(row.find('.badge').text()).toContain('SSO');
    const u = await userRow('jane.doe');
    const pageRes = await admin.get(`/users/${u.id}`);
    expect(pageRes.status).toBe(200);
    const userPage = $(pageRes.text);
    expect(userPage('h1 .badge').text()).toContain('SSO');
    expect(userPage('#f-password').length).toBe(0);
    expect(userPage('.sso-note').text()).toContain('Gatehouse keeps no password');
    // Saving the form without a password works for an SSO user.
    const form = userPage('form.user-form');
    const res = await admin
      .post(`/users/${u.id}`)
      .type('form')
      .send({
        _csrf: admin.csrf,
        op: 'save',
        version: form.find('input[name=version]').val(),
        email: 'jane.doe@example.com',
        firstName: 'Jane',
        lastName: 'Doe',
        roleId: String(u.role_id),
        licenseTypeId: String(u.license_type_id),
      });
    expect(res.status).toBe(303);
    expect((await userRow('jane.doe')).password_hash).toBeNull();
  });

  it('updates names and email on later sign-ins, without a second account', async () => {
    await janeSignedUp();
    const before = await userCount();
    const id = (await userRow('jane.doe')).id;
    person('jane', { preferred_username: 'jane.renamed', given_name: 'Janet', family_name: 'Doe-Smith', email: 'janet.smith@example.com', email_verified: true });
    const { res, agent } = await ssoSignIn('jane');
    expect(res.status).toBe(303);
    // Found by the provider's subject: the username stays (usernames never change).
    expect(await signedInAs(agent)).toBe('jane.doe');
    expect(await userCount()).toBe(before);
    const u = await userRow('jane.doe');
    expect(u.id).toBe(id);
    expect([u.first_name, u.last_name, u.email]).toEqual(['Janet', 'Doe-Smith', 'janet.smith@example.com']);
    const update = await t.db('audit_events').where({ action: 'user.update', object_id: String(id) }).orderBy('id', 'desc').first();
    expect(JSON.parse(update.before_json)).toEqual({ firstName: 'Jane', lastName: 'Doe', email: 'jane.doe@example.com' });
    expect(JSON.parse(update.after_json)).toMatchObject({ firstName: 'Janet', lastName: 'Doe-Smith', email: 'janet.smith@example.com', source: 'sso' });
  });

  it('keeps the old email when the new one belongs to another account, and still signs in', async () => {
    await janeSignedUp();
    await t.makeUser({ username: 'taken', email: 'taken@example.com' });
    person('jane', { preferred_username: 'jane.doe', given_name: 'Janet', family_name: 'Doe-Smith', email: 'taken@example.com' });
    const { res, agent } = await ssoSignIn('jane');
    expect(res.status).toBe(303);
    expect(await signedInAs(agent)).toBe('jane.doe');
    expect((await userRow('jane.doe')).email).toBe('jane.doe@example.com');
    expect((await userRow('taken')).email).toBe('taken@example.com');
  });

  it('uses the email when there is no preferred_username, and makes provider values safe', async () => {
    person('nouser', { email: 'no.user@example.com', given_name: 'No', family_name: 'User' });
    const a = await ssoSignIn('nouser');
    expect(a.res.status).toBe(303);
    expect(await signedInAs(a.agent)).toBe('no.user@example.com');

    person('hostile', {
      preferred_username: "'; DROP TABLE users; --",
      given_name: '<script>alert(1)</script>',
      family_name: 'Ünïcødé ' + 'x'.repeat(300),
      email: 'hostile@example.com',
    });
    const b = await ssoSignIn('hostile');
    expect(b.res.status).toBe(303);
    const u = await userRow('DROP.TABLE.users.--');
    expect(u).toBeDefined();
    expect(u.first_name).toBe('<script>alert(1)</script>');
    expect(u.last_name.length).toBe(100);
    expect(u.last_name.startsWith('Ünïcødé x')).toBe(true);
    const admin = await t.signIn('admin');
    const html = (await admin.get(`/users/${u.id}`)).text;
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');

    person('unusable', { preferred_username: '!!', email: 'unusable@example.com' });
    const c = await ssoSignIn('unusable');
    expect(c.res.status).toBe(303);
    expect(await signedInAs(c.agent)).toBe('unusable@example.com');
  });

  it('refuses an identity without an email address and creates nothing', async () => {
    person('noemail', { preferred_username: 'no.email', given_name: 'No', family_name: 'Email' });
    const before = await userCount();
    const { res, agent } = await ssoSignIn('noemail');
    expect(res.status).toBe(400);
    expect($(res.text)('[role=alert]').text()).toContain('did not send a valid email address');
    expect(await userCount()).toBe(before);
    expect(await signedInAs(agent)).toBeNull();
    expect((await lastFailure())!.after.reason).toBe('missing_email');
  });
});

describe('refusals: nothing created, a friendly page, an audit event', () => {
  it('refuses a tampered state', async () => {
    mallory();
    const before = await userCount();
    const { res, agent } = await ssoSignIn('mallory', { tamperResponse: (u) => u.searchParams.set('state', 'forged-state-value') });
    expect(res.status).toBe(400);
    const page = $(res.text);
    expect(page('h1').text()).toBe('Single sign-on did not complete');
    expect(page('[role=alert]').text()).toContain('does not belong to the sign-in started in this browser');
    expect(page('a[href="/sso/login"]').text()).toContain('Try again with Test IdP');
    expect(page('a[href="/login"]').length).toBeGreaterThan(0);
    expect(await userCount()).toBe(before);
    expect(await userRow('mallory')).toBeUndefined();
    expect(await signedInAs(agent)).toBeNull();
    const event = await lastFailure();
    expect(event!.after.reason).toBe('state_mismatch');
    expect(event!.actor_id).toBeNull();
  });

  it('refuses a callback that was not started in this browser, and a replayed one', async () => {
    const stranger = request.agent(t.server);
    const res = await stranger.get('/sso/callback?code=abc&state=def');
    expect(res.status).toBe(400);
    expect($(res.text)('[role=alert]').text()).toContain('was not started in this browser');
    expect((await lastFailure())!.after.reason).toBe('no_sign_in_in_progress');

    person('replay', { preferred_username: 'replay.user', email: 'replay@example.com' });
    const first = await ssoSignIn('replay');
    expect(first.res.status).toBe(303);
    // The same callback again, in a browser that is back at the start: the flow was used up.
    const again = await request.agent(t.server).get(first.callbackUrl.pathname + first.callbackUrl.search);
    expect(again.status).toBe(400);
  });

  it('refuses an ID token with the wrong nonce', async () => {
    mallory();
    const before = await userCount();
    const { res, agent } = await ssoSignIn('mallory', { tamperRequest: (u) => u.searchParams.set('nonce', 'nonce-chosen-by-an-attacker') });
    expect(res.status).toBe(401);
    expect($(res.text)('[role=alert]').text()).toContain('nonce does not match');
    expect(await userCount()).toBe(before);
    expect(await signedInAs(agent)).toBeNull();
    expect((await lastFailure())!.after.reason).toBe('nonce_mismatch');
  });

  it('refuses an expired ID token', async () => {
    mallory();
    const before = await userCount();
    op.expireIdTokens = true;
    const { res, agent } = await ssoSignIn('mallory');
    expect(res.status).toBe(401);
    expect($(res.text)('[role=alert]').text()).toContain('has expired');
    expect(await userCount()).toBe(before);
    expect(await signedInAs(agent)).toBeNull();
    expect((await lastFailure())!.after.reason).toBe('token_expired');
  });

  it('refuses a response naming another issuer', async () => {
    mallory();
    const { res } = await ssoSignIn('mallory', { tamperResponse: (u) => u.searchParams.set('iss', 'https://evil.example') });
    expect(res.status).toBe(400);
    expect($(res.text)('[role=alert]').text()).toContain('unknown issuer');
    expect(await userRow('mallory')).toBeUndefined();
    expect((await lastFailure())!.after.reason).toBe('issuer_mismatch');
  });

  it('explains a sign-in cancelled at the provider (error=access_denied)', async () => {
    mallory();
    const { res, agent } = await ssoSignIn('mallory', { abort: true });
    expect(res.status).toBe(401);
    expect($(res.text)('[role=alert]').text()).toContain('access was denied or the sign-in was cancelled');
    expect(await signedInAs(agent)).toBeNull();
    expect((await lastFailure())!.after.reason).toBe('provider_error:access_denied');
  });

  it('shows a friendly page when the provider cannot be reached', async () => {
    const down = await createApp({ ...t.config, sso: { ...op.ssoConfig(REDIRECT), issuer: 'http://127.0.0.1:9' } }, { db: t.db });
    const res = await request(down.app.callback()).get('/sso/login');
    expect(res.status).toBe(502);
    expect($(res.text)('[role=alert]').text()).toContain('could not be reached');
    expect(res.text).not.toMatch(/ECONNREFUSED|stack/);
    expect((await lastFailure())!.after.reason).toBe('provider_unreachable');
  });

  it('does not trust a provider that answers as a different issuer', async () => {
    // Same server, reached under another name: its metadata names http://localhost:…, not this URL.
    const port = new URL(op.issuer).port;
    const other = await createApp({ ...t.config, sso: { ...op.ssoConfig(REDIRECT), issuer: `http://127.0.0.1:${port}` } }, { db: t.db });
    const res = await request(other.app.callback()).get('/sso/login');
    expect(res.status).toBe(502);
    expect($(res.text)('[role=alert]').text()).toContain('different issuer');
    expect((await lastFailure())!.after.reason).toBe('issuer_mismatch');
  });

  it('refuses a deactivated or locked SSO account', async () => {
    await janeSignedUp();
    const id = (await userRow('jane.doe')).id;
    await userService.setStatus(t.db, SYSTEM_ACTOR, id, 'deactivated');
    const deactivated = await ssoSignIn('jane');
    expect(deactivated.res.status).toBe(403);
    expect($(deactivated.res.text)('[role=alert]').text()).toContain('cannot sign in');
    expect(await signedInAs(deactivated.agent)).toBeNull();
    const event = await lastFailure();
    expect(event!.after.reason).toBe('account_cannot_sign_in');
    expect(event!.object_id).toBe(String(id));

    await userService.setStatus(t.db, SYSTEM_ACTOR, id, 'active');
    // An account lock from before sign-in throttling (the column is still honoured).
    // Written as the product writes account changes: with its change-log entry (servers hold accounts in memory).
    const setLock = (lockedUntil: number | null) =>
      transaction(t.db, async (trx) => {
        await trx('users').where({ id }).update({ locked_until: lockedUntil });
        await recordChange(trx, { kind: 'user', id });
      });
    await setLock(Date.now() + 3600_000);
    const locked = await ssoSignIn('jane');
    expect(locked.res.status).toBe(403);
    expect(await signedInAs(locked.agent)).toBeNull();

    await setLock(null);
    const again = await ssoSignIn('jane');
    expect(again.res.status).toBe(303);
    expect(await signedInAs(again.agent)).toBe('jane.doe');
  });

  it('says so clearly when no license seat is left, and makes no account', async () => {
    await janeSignedUp();
    const role = await t.db('roles').where({ is_default: true }).first();
    const license = await t.db('license_types').where({ id: role.license_type_id }).first();
    const used = Number((await t.db('users').where({ license_type_id: license.id }).count({ n: '*' }).first())!.n);
    await t.make.seatLimit(license.key, used);
    try {
      person('late', { preferred_username: 'late.comer', given_name: 'Late', family_name: 'Comer', email: 'late@example.com' });
      const before = await userCount();
      const { res, agent } = await ssoSignIn('late');
      expect(res.status).toBe(409);
      expect($(res.text)('[role=alert]').text()).toContain(`all ${license.name} licenses are in use`);
      expect(await userCount()).toBe(before);
      expect(await userRow('late.comer')).toBeUndefined();
      expect(await t.db('audit_events').where({ action: 'user.create', object_label: 'late.comer' }).first()).toBeUndefined();
      expect(await signedInAs(agent)).toBeNull();
      expect((await lastFailure())!.after.reason).toBe('no_seat');
      // People who already have an account still sign in.
      expect((await ssoSignIn('jane')).res.status).toBe(303);
    } finally {
      await t.make.seatLimit(license.key, null);
    }
    expect((await ssoSignIn('late')).res.status).toBe(303);
    expect((await userRow('late.comer')).source).toBe('sso');
  });
});

describe('existing local accounts', () => {
  it('refuses to take over a local account with the same email when linking is off', async () => {
    await carolLocalAndAtProvider();
    const before = await userCount();
    const { res, agent } = await ssoSignIn('carol-idp');
    expect(res.status).toBe(409);
    expect($(res.text)('[role=alert]').text()).toContain('already exists and is not linked to single sign-on');
    expect(await userCount()).toBe(before);
    expect((await userRow('carol')).sso_subject).toBeNull();
    expect(await signedInAs(agent)).toBeNull();
    expect((await lastFailure())!.after.reason).toBe('email_in_use');
  });

  it('refuses a username that a local account already has', async () => {
    await t.makeUser({ username: 'dave', email: 'dave@local.example' });
    person('dave-idp', { preferred_username: 'Dave', email: 'dave@idp.example' });
    const { res } = await ssoSignIn('dave-idp');
    expect(res.status).toBe(409);
    expect($(res.text)('[role=alert]').text()).toContain('named “dave” already exists');
    expect(await t.db('users').where({ email_lower: 'dave@idp.example' }).first()).toBeUndefined();
    expect((await lastFailure())!.after.reason).toBe('username_taken');
  });

  it('links the local account with the same email when linking is on; the password keeps working', async () => {
    await carolLocalAndAtProvider();
    const server = linking.app.callback();
    const before = await userCount();
    const { res, agent } = await ssoSignIn('carol-idp', { server });
    expect(res.status).toBe(303);
    expect(await signedInAs(agent)).toBe('carol');
    expect(await userCount()).toBe(before);
    const carol = await userRow('carol');
    expect(carol.sso_subject).toBe(`${op.issuer}|carol-idp`);
    expect(carol.source).toBe('local');
    expect(carol.password_hash).not.toBeNull();
    const link = await t.db('audit_events').where({ action: 'user.link_sso', object_id: String(carol.id) }).first();
    expect(JSON.parse(link.after_json)).toMatchObject({ ssoSubject: `${op.issuer}|carol-idp`, matchedBy: 'email' });
    const signIn = await t.db('audit_events').where({ action: 'auth.sign_in', object_id: String(carol.id) }).orderBy('id', 'desc').first();
    expect(JSON.parse(signIn.after_json)).toEqual({ method: 'sso', linked: true });
    // Break-glass: her password still works.
    expect(await signedInAs(await t.signIn('carol', PASSWORD))).toBe('carol');
    // Once linked, she is found by her subject, with linking switched off again too.
    const later = await ssoSignIn('carol-idp');
    expect(later.res.status).toBe(303);
    expect(await signedInAs(later.agent)).toBe('carol');
    // Her user page says the account is linked.
    const admin = await t.signIn('admin');
    expect($((await admin.get(`/users/${carol.id}`)).text)('#h-password').text()).toContain('Also linked to single sign-on');
  });

  it('does not link when the provider says the email is unverified, nor an account already linked', async () => {
    const server = linking.app.callback();
    await carolLocalAndAtProvider();
    expect((await ssoSignIn('carol-idp', { server })).res.status).toBe(303);
    await t.makeUser({ username: 'erin', email: 'erin@corp.example' });
    person('erin-idp', { preferred_username: 'erin.sso', email: 'erin@corp.example', email_verified: false });
    const unverified = await ssoSignIn('erin-idp', { server });
    expect(unverified.res.status).toBe(409);
    expect($(unverified.res.text)('[role=alert]').text()).toContain('not verified');
    expect((await userRow('erin')).sso_subject).toBeNull();

    // Someone else at the provider with Carol's email cannot take over her already-linked account.
    person('carol-twin', { preferred_username: 'carol.twin', email: 'carol@corp.example', email_verified: true });
    const twin = await ssoSignIn('carol-twin', { server });
    expect(twin.res.status).toBe(409);
    expect((await userRow('carol')).sso_subject).toBe(`${op.issuer}|carol-idp`);
    expect(await userRow('carol.twin')).toBeUndefined();
  });
});
