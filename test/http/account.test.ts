import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $, createTestApp, PASSWORD, type TestApp } from '../support/app';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'admin', role: 'superuser' });
  await t.makeUser({ username: 'analyst', role: 'analyst' });
});
afterAll(async () => t?.close());

describe('my account', () => {
  it('lets anyone signed in edit their profile, with messages beside the fields', async () => {
    const me = await t.signIn('analyst');
    const bad = await me.post('/account/profile').type('form').send({ _csrf: me.csrf, firstName: '', lastName: 'L', email: 'admin@example.com' });
    expect(bad.status).toBe(422);
    expect($(bad.text)('#e-firstName').text()).toContain('required');
    const dup = await me.post('/account/profile').type('form').send({ _csrf: me.csrf, firstName: 'A', lastName: 'L', email: 'ADMIN@example.com' });
    expect($(dup.text)('#e-email').text()).toContain('already');
    const ok = await me.post('/account/profile').type('form').send({ _csrf: me.csrf, firstName: 'Ana', lastName: 'Lyst', email: 'ana@example.com' });
    expect(ok.status).toBe(303);
    expect((await t.db('users').where({ username_lower: 'analyst' }).first()).first_name).toBe('Ana');
  });

  it('changes the password only with the current one, and signs out other sessions', async () => {
    await t.makeUser({ username: 'changer' });
    const me = await t.signIn('changer');
    const other = await t.signIn('changer');
    const wrong = await me.post('/account/password').type('form').send({ _csrf: me.csrf, currentPassword: 'nope', newPassword: 'a-new-long-password', confirmPassword: 'a-new-long-password' });
    expect(wrong.status).toBe(422);
    expect($(wrong.text)('#e-currentPassword').text()).toContain('not your current password');
    const mismatch = await me.post('/account/password').type('form').send({ _csrf: me.csrf, currentPassword: PASSWORD, newPassword: 'a-new-long-password', confirmPassword: 'different-password' });
    expect($(mismatch.text)('#e-confirmPassword').text()).toContain('differ');
    const ok = await me.post('/account/password').type('form').send({ _csrf: me.csrf, currentPassword: PASSWORD, newPassword: 'a-new-long-password', confirmPassword: 'a-new-long-password' });
    expect(ok.status).toBe(303);
    expect((await me.get('/account')).status).toBe(200);
    expect((await other.get('/account')).status).toBe(303);
    expect(await t.signIn('changer', 'a-new-long-password')).toBeTruthy();
  });

  it('signs out the other sessions but keeps this one', async () => {
    const me = await t.signIn('admin');
    const other = await t.signIn('admin');
    const res = await me.post('/account/sessions/end-others').type('form').send({ _csrf: me.csrf });
    expect(res.status).toBe(303);
    expect((await me.get('/account')).status).toBe(200);
    expect((await other.get('/account')).status).toBe(303);
  });

  it('offers API tokens only to roles with "Access API"', async () => {
    const analyst = await t.signIn('analyst');
    const page = await analyst.get('/account');
    expect($(page.text)('#tokens').length).toBe(0);
    const refused = await analyst.post('/account/tokens').type('form').send({ _csrf: analyst.csrf, name: 'x' });
    expect(refused.status).toBe(403);
  });

  it('creates a token shown once, stores only its hash, and revokes it', async () => {
    const admin = await t.signIn('admin');
    const empty = await admin.post('/account/tokens').type('form').send({ _csrf: admin.csrf, name: '' });
    expect(empty.status).toBe(422);
    expect($(empty.text)('#e-name').text()).toContain('required');
    const res = await admin.post('/account/tokens').type('form').send({ _csrf: admin.csrf, name: 'CI pipeline', expiresInDays: '30' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/account/tokens/created');
    const shown = await admin.get('/account/tokens/created');
    const token = $(shown.text)('#new-token').text();
    expect($(shown.text)('button[data-copy="#new-token"]').length).toBe(1);
    // A reload shows nothing and makes no second token.
    expect((await admin.get('/account/tokens/created')).status).toBe(303);
    expect(await t.db('api_tokens').where({ name: 'CI pipeline' })).toHaveLength(1);
    expect(token).toMatch(/^gh_/);
    const row = await t.db('api_tokens').where({ name: 'CI pipeline' }).first();
    expect(row.token_hash).not.toContain(token);
    expect(row.token_hash).toHaveLength(64);
    const again = await admin.get('/account');
    expect(again.text).not.toContain(token);
    const api = await request(t.server).get('/api/v1/users').set('Authorization', `Bearer ${token}`);
    expect(api.status).toBe(200);
    const revoke = await admin.post(`/account/tokens/${row.id}/revoke`).type('form').send({ _csrf: admin.csrf });
    expect(revoke.status).toBe(303);
    const after = await request(t.server).get('/api/v1/users').set('Authorization', `Bearer ${token}`);
    expect(after.status).toBe(401);
  });

  it('cannot revoke somebody else’s token', async () => {
    await t.token('admin');
    const adminToken = await t.db('api_tokens').where({ user_id: await t.make.userId('admin') }).whereNull('revoked_at').orderBy('id', 'desc').first('id');
    // Someone who may hold tokens of their own, but not this one.
    await t.make.makeRole('Integrators', { template: 'analyst', permissions: ['models.view', 'api.access'] });
    await t.makeUser({ username: 'integrator', role: 'Integrators' });
    const integrator = await t.signIn('integrator');
    const res = await integrator.post(`/account/tokens/${adminToken.id}/revoke`).type('form').send({ _csrf: integrator.csrf });
    expect(res.status).toBe(404);
    expect((await t.db('api_tokens').where({ id: adminToken.id }).first()).revoked_at).toBeNull();
  });

  it('limits the API rate per token with 429 and Retry-After', async () => {
    const limited = await createTestApp({ apiRateLimitPerMinute: 3 });
    try {
      await limited.makeUser({ username: 'admin', role: 'superuser' });
      const token = await limited.token('admin');
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await request(limited.server).get('/api/v1/users').set('Authorization', `Bearer ${token}`)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const res = await request(limited.server).get('/api/v1/users').set('Authorization', `Bearer ${token}`);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(res.body.error.code).toBe('rate_limited');
    } finally {
      await limited.close();
    }
  });
});
