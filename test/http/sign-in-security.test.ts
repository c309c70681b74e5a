import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $, createTestApp, csrfFrom, PASSWORD, type Agent, type TestApp } from '../support/app';
import { currentCode } from '../../src/auth/factors';
import { sweep } from '../../src/auth/housekeeping';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'admin', role: 'superuser' });
  await t.makeUser({ username: 'boss', role: 'superuser' });
  await t.makeUser({ username: 'helpdesk', role: 'administrator' });
  await t.makeUser({ username: 'ana', role: 'analyst' });
});
afterAll(async () => t?.close());

const sessionCount = async () => Number((await t.db('sessions').count({ n: '*' }).first())!.n);
const userId = (username: string) => t.make.userId(username);

/** Enrols TOTP for a signed-in agent; returns the secret. */
async function enrolTotp(agent: Agent): Promise<{ secret: string; codes: string[] }> {
  const start = await agent.post('/account/two-factor/totp/start').type('form').send({ _csrf: agent.csrf });
  expect(start.status).toBe(303);
  const setup = await agent.get('/account/two-factor/totp');
  const secret = $(setup.text)('#totp-secret').text().replace(/\s+/g, '');
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);
  expect($(setup.text)('img.qr').attr('src')).toMatch(/^data:image\/svg\+xml;base64,/);
  const done = await agent.post('/account/two-factor/totp').type('form').send({ _csrf: agent.csrf, code: currentCode(secret) });
  expect(done.status).toBe(303);
  expect(done.headers.location).toBe('/account/two-factor/recovery-codes');
  const shown = await agent.get('/account/two-factor/recovery-codes');
  const codes = $(shown.text)('#recovery-codes code').map((_, el) => $(shown.text)(el).text()).get();
  expect(codes).toHaveLength(10);
  return { secret, codes };
}

async function passwordStep(username: string, password = PASSWORD): Promise<Agent> {
  const agent = await t.anonymous();
  const res = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username, password });
  expect(res.status).toBe(303);
  expect(res.headers.location).toBe('/login/two-factor');
  const page = await agent.get('/login/two-factor');
  agent.csrf = csrfFrom(page.text);
  return agent;
}

describe('sessions before and after sign-in', () => {
  it('writes no session row for 1,000 anonymous requests', async () => {
    const before = await sessionCount();
    const paths = ['/login', '/users', '/account', '/', '/password/forgot', '/login/two-factor'];
    for (let i = 0; i < 1000; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => request(t.server).get(paths[(i + j) % paths.length])));
    }
    expect(await sessionCount()).toBe(before);
  });

  it('rotates the CSRF token at sign-in: the token seen before no longer works', async () => {
    const agent = await t.anonymous();
    const before = agent.csrf;
    await agent.post('/login').type('form').send({ _csrf: before, username: 'ana', password: PASSWORD }).expect(303);
    const page = await agent.get('/account');
    const after = csrfFrom(page.text);
    expect(after).not.toBe(before);
    const stale = await agent.post('/account/profile').type('form').send({ _csrf: before, firstName: 'A', lastName: 'B', email: 'ana@example.com' });
    expect(stale.status).toBe(403);
  });

  it('keeps at most a few flash messages, so a session row never overflows', async () => {
    const agent = await t.signIn('ana');
    for (let i = 0; i < 40; i++) await agent.post('/account/sessions/end-others').type('form').send({ _csrf: agent.csrf }).expect(303);
    const row = await t.db('sessions').where({ user_id: await userId('ana') }).orderBy('last_seen_at', 'desc').first();
    expect(JSON.parse(row.data).flash.length).toBeLessThanOrEqual(5);
    expect(row.data.length).toBeLessThan(4000);
  });

  it('sends Cache-Control: no-store on signed-in pages', async () => {
    const agent = await t.signIn('ana');
    expect((await agent.get('/account')).headers['cache-control']).toBe('no-store');
  });

  it('ends a session at its absolute lifetime however active, and removes expired rows on a schedule', async () => {
    const agent = await t.signIn('ana');
    expect((await agent.get('/account')).status).toBe(200);
    // The row saved as another server would save it when the lifetime ends: a new version, which the browser is told.
    const row = await t.db('sessions').where({ user_id: await userId('ana') }).orderBy('last_seen_at', 'desc').first();
    const data = JSON.parse(row.data);
    await t.db('sessions').where({ id: row.id }).update({ data: JSON.stringify({ ...data, hardExpiry: Date.now() - 1 }), version: row.version + 1 });
    agent.jar.setCookie(`gh_sv=${row.version + 1}`, '127.0.0.1', '/');
    expect((await agent.get('/account')).status).toBe(303);
    await t.db('sessions').insert({ id: 'expired-session-row', user_id: null, data: '{}', ip: '', user_agent: '', created_at: 1, last_seen_at: 1, expires_at: 2 });
    const removed = await sweep(t.db, t.config);
    expect(removed.sessions).toBeGreaterThanOrEqual(1);
    expect(await t.db('sessions').where({ id: 'expired-session-row' }).first()).toBeUndefined();
  });

  it('sets Secure cookies and HSTS behind a TLS proxy', async () => {
    const proxied = await createTestApp({ trustProxy: true });
    try {
      await proxied.makeUser({ username: 'ana', role: 'analyst' });
      const form = await request(proxied.server).get('/login').set('X-Forwarded-Proto', 'https');
      expect(form.headers['strict-transport-security']).toContain('max-age=');
      const formCookies = ([] as string[]).concat(form.headers['set-cookie'] ?? []);
      expect(formCookies.every((c) => /;\s*secure/i.test(c))).toBe(true);
      // (A cookie jar keeps Secure cookies from plain-HTTP requests, so they are sent by hand here.)
      const res = await request(proxied.server)
        .post('/login')
        .set('X-Forwarded-Proto', 'https')
        .set('Cookie', formCookies.map((c) => c.split(';')[0]).join('; '))
        .type('form')
        .send({ _csrf: csrfFrom(form.text), username: 'ana', password: PASSWORD });
      expect(res.status).toBe(303);
      const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
      expect(cookies.find((c) => c.startsWith('gh_sid='))).toMatch(/;\s*secure/i);
      expect((await request(proxied.server).get('/login')).headers['strict-transport-security']).toBeUndefined();
    } finally {
      await proxied.close();
    }
  });

  it('lists sessions with a readable device and ends one of them', async () => {
    const phone = await t.anonymous();
    await phone
      .post('/login')
      .set('User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36')
      .type('form')
      .send({ _csrf: phone.csrf, username: 'boss', password: PASSWORD })
      .expect(303);
    const me = await t.signIn('boss');
    const page = $((await me.get('/account')).text);
    const row = page('#sessions tbody tr').filter((_, el) => page(el).text().includes('Chrome on Linux'));
    expect(row.length).toBe(1);
    const action = row.find('form').attr('action')!;
    expect(action).toMatch(/^\/account\/sessions\/[A-Za-z0-9_-]{22}\/end$/);
    expect(await me.post(action).type('form').send({ _csrf: me.csrf })).toHaveProperty('status', 303);
    expect((await phone.get('/account')).status).toBe(303);
    expect((await me.get('/account')).status).toBe(200);
    const events = await t.db('audit_events').where({ action: 'auth.session_revoked', object_label: 'boss' });
    expect(events).toHaveLength(1);
  });
});

describe('two-factor sign-in', () => {
  it('enrols TOTP with a QR code, then asks for a code at sign-in, accepting each code once', async () => {
    await t.makeUser({ username: 'tina', role: 'analyst' });
    const { secret } = await enrolTotp(await t.signIn('tina'));
    const agent = await passwordStep('tina');
    // Half signed in: nothing else opens.
    expect((await agent.get('/account')).status).toBe(303);
    const wrong = await agent.post('/login/two-factor').type('form').send({ _csrf: agent.csrf, code: '000000' });
    expect(wrong.status).toBe(401);
    const code = currentCode(secret, Date.now() + 30_000);
    const ok = await agent.post('/login/two-factor').type('form').send({ _csrf: agent.csrf, code });
    expect(ok.status).toBe(303);
    expect((await agent.get('/account')).status).toBe(200);
    // The same code again, in another browser: refused (replay).
    const again = await passwordStep('tina');
    expect((await again.post('/login/two-factor').type('form').send({ _csrf: again.csrf, code })).status).toBe(401);
    const actions = (await t.db('audit_events').where({ object_label: 'tina' }).orderBy('id')).map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['auth.totp_enrolled', 'auth.recovery_codes_generated', 'auth.second_factor_failed', 'auth.sign_in']));
    const signIn = await t.db('audit_events').where({ object_label: 'tina', action: 'auth.sign_in' }).orderBy('id', 'desc').first();
    expect(JSON.parse(signIn.after_json).method).toBe('password+totp');
  });

  it('accepts a code once even when it is sent from many browsers at the same moment', async () => {
    await t.makeUser({ username: 'replay', role: 'analyst' });
    const { secret } = await enrolTotp(await t.signIn('replay'));
    const agents: Agent[] = [];
    for (let i = 0; i < 20; i++) agents.push(await passwordStep('replay'));
    const code = currentCode(secret, Date.now() + 30_000);
    const statuses = await Promise.all(agents.map((a) => a.post('/login/two-factor').type('form').send({ _csrf: a.csrf, code }).then((r) => r.status)));
    // Never twice. (Under real parallelism on MariaDB the one right answer may itself be refused: the other
    // nineteen, failing, throttled the account while it was being checked.)
    expect(statuses.filter((s) => s === 303).length).toBeLessThanOrEqual(1);
    expect(statuses.filter((s) => s !== 303 && s !== 401 && s !== 429)).toEqual([]);
    // Only the free guesses of the account were checked (plus the one that signed in and reset the count).
    expect(statuses.filter((s) => s === 401 || s === 303).length).toBeLessThanOrEqual(6);
  });

  it('accepts each recovery code once', async () => {
    await t.makeUser({ username: 'rita', role: 'analyst' });
    const { codes } = await enrolTotp(await t.signIn('rita'));
    const agent = await passwordStep('rita');
    const ok = await agent.post('/login/two-factor').type('form').send({ _csrf: agent.csrf, recoveryCode: codes[3].toUpperCase() });
    expect(ok.status).toBe(303);
    const second = await passwordStep('rita');
    expect((await second.post('/login/two-factor').type('form').send({ _csrf: second.csrf, recoveryCode: codes[3] })).status).toBe(401);
    expect((await second.post('/login/two-factor').type('form').send({ _csrf: second.csrf, recoveryCode: codes[4] })).status).toBe(303);
  });

  it('leads administrators to enrol when the policy requires it, and lets them do nothing else', async () => {
    const admin = await t.signIn('admin');
    await admin.post('/settings/sign-in').type('form').send({ _csrf: admin.csrf, requireAdmins: 'on' }).expect(303);
    try {
      const agent = await t.anonymous();
      const res = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username: 'helpdesk', password: PASSWORD });
      expect(res.headers.location).toBe('/account/two-factor');
      const users = await agent.get('/users');
      expect(users.status).toBe(303);
      expect(users.headers.location).toBe('/account/two-factor');
      const page = await agent.get('/account/two-factor');
      expect(page.status).toBe(200);
      agent.csrf = csrfFrom(page.text);
      await enrolTotp(agent);
      expect((await agent.get('/users')).status).toBe(200);
      // An analyst (no administration permission) is not asked.
      const analyst = await t.anonymous();
      const plain = await analyst.post('/login').type('form').send({ _csrf: analyst.csrf, username: 'ana', password: PASSWORD });
      expect(plain.headers.location).toBe('/');
    } finally {
      await admin.post('/settings/sign-in').type('form').send({ _csrf: admin.csrf }).expect(303);
    }
  });

  it('lets an administrator reset another user’s second factor, under the who-may-change-whom rule', async () => {
    await t.makeUser({ username: 'lost', role: 'analyst' });
    await t.makeUser({ username: 'sup2', role: 'superuser' });
    await t.makeUser({ username: 'desk', role: 'administrator' });
    await enrolTotp(await t.signIn('lost'));
    await enrolTotp(await t.signIn('sup2'));
    const hd = await t.signIn('desk');
    const admin = await t.signIn('admin');
    // An Administrator may not touch a Superuser's factors…
    const refused = await hd.post(`/users/${await userId('sup2')}/two-factor/reset`).type('form').send({ _csrf: hd.csrf });
    expect(refused.status).toBe(303);
    expect(await t.db('totp_factors').where({ user_id: await userId('sup2') }).first()).toBeTruthy();
    expect($((await hd.get(`/users/${await userId('sup2')}`)).text)('#sign-in').text()).toContain('Only a Superuser may change sup2');
    // …but may reset an analyst's; the audit log says who did it.
    const lostId = await userId('lost');
    expect((await hd.post(`/users/${lostId}/two-factor/reset`).type('form').send({ _csrf: hd.csrf })).status).toBe(303);
    expect(await t.db('totp_factors').where({ user_id: lostId }).first()).toBeUndefined();
    const event = await t.db('audit_events').where({ action: 'auth.second_factor_reset', object_id: String(lostId) }).first();
    expect(event.actor_username).toBe('desk');
    // The owner signs in with the password alone again.
    expect(await t.signIn('lost')).toBeTruthy();
    const history = await admin.get(`/users/${lostId}/sign-in-history`);
    expect(history.status).toBe(200);
    expect($(history.text)('tbody').text()).toContain('Second factor reset by an administrator');
  });
});

describe('the same through the API', () => {
  it('shows a user’s factors and sessions, ends one session and resets the factor', async () => {
    await t.makeUser({ username: 'apiuser', role: 'analyst' });
    const owner = await t.signIn('apiuser');
    await enrolTotp(owner);
    const token = await t.token('admin');
    const api = (method: 'get' | 'delete', path: string) => request(t.server)[method](`/api/v1${path}`).set('Authorization', `Bearer ${token}`);
    const state = await api('get', '/users/apiuser/sign-in');
    expect(state.status).toBe(200);
    expect(state.body.secondFactor).toEqual({ totp: true, passkeys: 0, recoveryCodesLeft: 10 });
    expect(state.body.sessions).toHaveLength(1);
    expect((await api('delete', '/users/apiuser/sessions/not-a-session')).status).toBe(404);
    const ended = await api('delete', `/users/apiuser/sessions/${state.body.sessions[0].id}`);
    expect(ended.status).toBe(200);
    expect((await owner.get('/account')).status).toBe(303);
    const reset = await api('delete', '/users/apiuser/second-factor');
    expect(reset.status).toBe(200);
    expect(reset.body.removed.totp).toBe(true);
    expect((await api('delete', '/users/apiuser/second-factor')).status).toBe(409);
    expect((await api('delete', '/users/admin/second-factor')).body.error.code).toBe('self_protection');
  });
});

describe('re-authentication', () => {
  it('asks for the password again before creating a token when the last proof is old', async () => {
    const admin = await t.signIn('admin');
    const row = await t.db('sessions').where({ user_id: await userId('admin') }).orderBy('last_seen_at', 'desc').first();
    await t.db('sessions').where({ id: row.id }).update({ data: JSON.stringify({ ...JSON.parse(row.data), authAt: Date.now() - 11 * 60_000 }) });
    const res = await admin.post('/account/tokens').type('form').set('Referer', 'http://127.0.0.1/account').send({ _csrf: admin.csrf, name: 'late' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/reauth?next=%2Faccount');
    expect(await t.db('api_tokens').where({ name: 'late' }).first()).toBeUndefined();
    const wrong = await admin.post('/reauth').type('form').send({ _csrf: admin.csrf, password: 'not-it', next: '/account' });
    expect(wrong.status).toBe(401);
    const ok = await admin.post('/reauth').type('form').send({ _csrf: admin.csrf, password: PASSWORD, next: '/account' });
    expect(ok.headers.location).toBe('/account');
    const created = await admin.post('/account/tokens').type('form').send({ _csrf: admin.csrf, name: 'late' });
    expect(created.headers.location).toBe('/account/tokens/created');
    const shown = await admin.get('/account/tokens/created');
    expect($(shown.text)('#new-token').text()).toMatch(/^gh_/);
    // Reloading shows nothing and makes no second token.
    const reload = await admin.get('/account/tokens/created');
    expect(reload.status).toBe(303);
    expect(await t.db('api_tokens').where({ name: 'late' })).toHaveLength(1);
  });
});

describe('re-authentication before role-permission and seat changes', () => {
  async function staleSuperuser(): Promise<Agent> {
    await t.makeUser({ username: `su${Date.now()}`, role: 'superuser' });
    const name = (await t.db('users').orderBy('id', 'desc').first('username')).username;
    const agent = await t.signIn(name);
    const id = await userId(name);
    const row = await t.db('sessions').where({ user_id: id }).first();
    await t.db('sessions').where({ id: row.id }).update({ data: JSON.stringify({ ...JSON.parse(row.data), authAt: Date.now() - 60 * 60_000 }) });
    return agent;
  }

  it('sends a stale Superuser to confirm before changing a role’s permissions (matrix, htmx) or seats', async () => {
    const role = await t.make.makeRole('Reauth role', { permissions: [] });
    const su = await staleSuperuser();
    const cell = await su.post(`/roles/matrix/${role.id}`).set('HX-Request', 'true').set('X-CSRF-Token', su.csrf).type('form').send({ perm: ['models.create'], cell: 'models.create' });
    expect(cell.status).toBe(204);
    expect(cell.headers['hx-redirect']).toBe('/reauth?next=%2Froles%2Fmatrix');
    expect(await t.db('role_permissions').where({ role_id: role.id })).toHaveLength(0);
    const seats = await su.post('/licenses/process_viewer/seats').type('form').send({ _csrf: su.csrf, seatLimit: '3' });
    expect(seats.headers.location).toBe('/reauth?next=%2Flicenses');
    expect((await t.db('license_types').where({ key: 'process_viewer' }).first()).seat_limit).toBeNull();
    await su.post('/reauth').type('form').send({ _csrf: su.csrf, password: PASSWORD, next: '/licenses' }).expect(303);
    expect((await su.post('/licenses/process_viewer/seats').type('form').send({ _csrf: su.csrf, seatLimit: '3' })).headers.location).toMatch(/^\/licenses(#|$)/);
    expect((await t.db('license_types').where({ key: 'process_viewer' }).first()).seat_limit).toBe(3);
  });
});

describe('throttling does not lock the owner out', () => {
  it('lets the owner in from their usual browser while guesses from elsewhere wait, and keeps API tokens working', async () => {
    await t.makeUser({ username: 'owner', role: 'superuser' });
    const token = await t.token('owner');
    const owner = await t.signIn('owner');
    await owner.post('/logout').type('form').send({ _csrf: owner.csrf }).expect(303);
    for (let i = 0; i < 6; i++) {
      const attacker = await t.anonymous();
      await attacker.post('/login').type('form').send({ _csrf: attacker.csrf, username: 'owner', password: `guess-${i}` });
    }
    const attacker = await t.anonymous();
    expect((await attacker.post('/login').type('form').send({ _csrf: attacker.csrf, username: 'owner', password: PASSWORD })).status).toBe(429);
    const form = await owner.get('/login');
    const back = await owner.post('/login').type('form').send({ _csrf: csrfFrom(form.text), username: 'owner', password: PASSWORD });
    expect(back.status).toBe(303);
    expect((await request(t.server).get('/api/v1/users').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    expect(await t.db('audit_events').where({ action: 'auth.throttled', object_label: 'owner' })).toHaveLength(1);
  });
});
