import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordChange } from '../../src/changes/service';
import { $, createTestApp, type Agent, type TestApp } from '../support/app';
import { unique } from '../support/factories';

/**
 * Machine clients: a Superuser manages them in the console and through the API; a client's token calls the
 * API as the client, within its scopes, with its owner's permissions and its own rate limit.
 */
let t: TestApp;
let root: Agent;
let rootToken: string;

const CHECK = { user: 'reader', domain: 'Files', operation: 'R', workspace: '/Root' };

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const api = (token: string) => ({
  get: (url: string) => request(t.server).get(`/api/v1${url}`).set(bearer(token)),
  post: (url: string, body: object = {}) => request(t.server).post(`/api/v1${url}`).set(bearer(token)).send(body),
  patch: (url: string, body: object) => request(t.server).patch(`/api/v1${url}`).set(bearer(token)).send(body),
  delete: (url: string) => request(t.server).delete(`/api/v1${url}`).set(bearer(token)),
});

async function auditOf(action: string, clientId: number) {
  return t.db('audit_events').where({ action, object_type: 'machine_client', object_id: String(clientId) }).orderBy('id', 'desc').first();
}

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'root', role: 'superuser' });
  await t.makeUser({ username: 'admin', role: 'administrator' });
  await t.makeUser({ username: 'reader' });
  root = await t.signIn('root');
  rootToken = await t.token('root');
});
afterAll(async () => t?.close());

describe('machine clients in the console', () => {
  it('creates a client, with every problem beside its field, and lists it', async () => {
    const bad = await root.post('/settings/clients/new').type('form').send({ _csrf: root.csrf, name: 'no spaces here', owner: 'ghost', rateLimitPerMinute: '0' });
    expect(bad.status).toBe(422);
    const doc = $(bad.text);
    expect(doc('#e-name').text()).toContain('letters, digits');
    expect(doc('#e-owner').text()).toContain('ghost');
    expect(doc('fieldset.has-error .field-error').text()).toContain('at least one scope');
    expect(doc('#e-rateLimitPerMinute').text()).toContain('at least 1');

    const name = unique('orders');
    const ok = await root.post('/settings/clients/new').type('form').send({ _csrf: root.csrf, name, owner: 'ROOT', scopes: ['decisions', 'read'], description: 'Orders service', rateLimitPerMinute: '' });
    expect(ok.status).toBe(303);
    const id = Number(ok.headers.location.split('/').pop());
    const detail = await root.get(ok.headers.location);
    expect($(detail.text)('h1').text()).toContain(name);
    expect($(detail.text)('input[name=scopes][value=decisions]').attr('checked')).toBeDefined();
    expect($(detail.text)('input[name=scopes][value=write]').attr('checked')).toBeUndefined();

    const list = await root.get('/settings/clients').query({ q: name.slice(0, 10) });
    expect($(list.text)('#client-results tbody').text()).toContain(name);
    expect($(list.text)('nav.sidebar').text()).toContain('Machine clients');
    const created = await auditOf('client.create', id);
    expect(created.actor_username).toBe('root');
    expect(JSON.parse(created.after_json)).toMatchObject({ name, owner: 'root', scopes: ['decisions', 'read'], rateLimitPerMinute: null });

    const dup = await root.post('/settings/clients/new').type('form').send({ _csrf: root.csrf, name: name.toUpperCase(), owner: 'root', scopes: 'read' });
    expect(dup.status).toBe(422);
    expect($(dup.text)('#e-name').text()).toContain('already has this name');
  });

  it('is for Superusers only: an Administrator is refused and sees no menu entry', async () => {
    const admin = await t.signIn('admin');
    expect((await admin.get('/settings/clients')).status).toBe(403);
    expect($((await admin.get('/users')).text)('nav.sidebar').text()).not.toContain('Machine clients');
  });

  it('issues a token shown once after a redirect, which then works; revoking it refuses it', async () => {
    const client = await t.make.makeClient({ owner: 'root', scopes: ['decisions'] });
    const issued = await root.post(`/settings/clients/${client.id}/tokens`).type('form').send({ _csrf: root.csrf, name: 'production' });
    expect(issued.status).toBe(303);
    expect(issued.headers.location).toBe(`/settings/clients/${client.id}/tokens/created`);
    const shown = await root.get(issued.headers.location);
    const token = $(shown.text)('#new-token').text();
    expect(token).toMatch(/^ghc_/);
    // Only the SHA-256 is stored, and a reload does not show it again.
    expect(await t.db('client_tokens').where({ client_id: client.id }).pluck('token_hash')).not.toContain(token);
    const again = await root.get(issued.headers.location);
    expect(again.status).toBe(303);
    expect((await api(token).post('/check', CHECK)).status).toBe(200);

    const page = await root.get(`/settings/clients/${client.id}`);
    const revokeAction = $(page.text)('#tokens form[action$="/revoke"]').attr('action')!;
    expect((await root.post(revokeAction).type('form').send({ _csrf: root.csrf })).status).toBe(303);
    const refused = await api(token).post('/check', CHECK);
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toContain('invalid_token');
    expect((await auditOf('client.token_revoke', client.id)).actor_username).toBe('root');
  });

  it('asks for the password again before issuing a token in an old session', async () => {
    const client = await t.make.makeClient({ owner: 'root', scopes: ['read'] });
    const username = unique('super');
    const id = await t.makeUser({ username, role: 'superuser' });
    const agent = await t.signIn(username);
    const row = await t.db('sessions').where({ user_id: id }).first();
    await t.db('sessions').where({ id: row.id }).update({ data: JSON.stringify({ ...JSON.parse(row.data), authAt: Date.now() - t.config.reauthMs - 60_000 }) });
    const res = await agent.post(`/settings/clients/${client.id}/tokens`).type('form').send({ _csrf: agent.csrf, name: 'late' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/reauth?next=${encodeURIComponent(`/settings/clients/${client.id}`)}`);
    expect(await t.db('client_tokens').where({ client_id: client.id }).first()).toBeUndefined();
  });

  it('edits, disables and enables a client; a disabled client’s tokens are refused with 401', async () => {
    const client = await t.make.makeClient({ owner: 'root', scopes: ['decisions'] });
    const token = await t.make.clientToken(client.id);
    const none = await root.post(`/settings/clients/${client.id}`).type('form').send({ _csrf: root.csrf, name: client.name, owner: 'root', rateLimitPerMinute: '' });
    expect(none.status).toBe(422);
    expect($(none.text)('fieldset.has-error').text()).toContain('at least one scope');
    const saved = await root.post(`/settings/clients/${client.id}`).type('form').send({ _csrf: root.csrf, name: `${client.name}-v2`, owner: 'root', scopes: ['decisions', 'read'], rateLimitPerMinute: '120', description: 'now reads too' });
    expect(saved.status).toBe(303);
    const updated = await auditOf('client.update', client.id);
    expect(JSON.parse(updated.after_json)).toMatchObject({ name: `${client.name}-v2`, scopes: ['decisions', 'read'], rateLimitPerMinute: 120 });
    expect((await api(token).get('/users')).status).toBe(200);

    expect((await root.post(`/settings/clients/${client.id}/disable`).type('form').send({ _csrf: root.csrf })).status).toBe(303);
    const refused = await api(token).post('/check', CHECK);
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe('client_disabled');
    expect(refused.headers['www-authenticate']).toContain('Bearer');
    expect(await auditOf('client.disable', client.id)).toBeDefined();
    expect($((await root.get(`/settings/clients/${client.id}`)).text)('h1 .badge').text()).toBe('Disabled');

    expect((await root.post(`/settings/clients/${client.id}/enable`).type('form').send({ _csrf: root.csrf })).status).toBe(303);
    expect((await api(token).post('/check', CHECK)).status).toBe(200);
    expect(await auditOf('client.enable', client.id)).toBeDefined();
  });

  it('deletes a client after a confirmation that says what goes with it', async () => {
    const client = await t.make.makeClient({ owner: 'root', scopes: ['decisions'] });
    const token = await t.make.clientToken(client.id);
    const confirm = await root.get(`/settings/clients/${client.id}/delete`);
    expect($(confirm.text)('.confirm').text()).toContain('1 still valid');
    const done = await root.post(`/settings/clients/${client.id}/delete`).type('form').send({ _csrf: root.csrf });
    expect(done.status).toBe(303);
    expect(done.headers.location).toBe('/settings/clients');
    expect(await t.db('machine_clients').where({ id: client.id }).first()).toBeUndefined();
    expect(await t.db('client_tokens').where({ client_id: client.id }).first()).toBeUndefined();
    expect((await api(token).post('/check', CHECK)).status).toBe(401);
    expect(JSON.parse((await auditOf('client.delete', client.id)).before_json)).toMatchObject({ name: client.name, liveTokens: 1 });
    expect((await root.get(`/settings/clients/${client.id}`)).status).toBe(404);
  });
});

describe('machine clients through the API', () => {
  it('creates, reads, changes, lists and deletes clients, and issues and revokes their tokens', async () => {
    const r = api(rootToken);
    const name = unique('billing');
    const made = await r.post('/clients', { name, owner: 'root', scopes: ['read'] });
    expect(made.status).toBe(201);
    expect(made.headers.location).toBe(`/api/v1/clients/${made.body.id}`);
    expect(made.body).toMatchObject({ name, owner: 'root', scopes: ['read'], rateLimitPerMinute: null, status: 'active' });
    const id = made.body.id;

    const bad = await r.post('/clients', { name: name.toUpperCase(), owner: 'nobody', scopes: ['admin'] });
    expect(bad.status).toBe(422);
    expect(Object.keys(bad.body.error.details.fields).sort()).toEqual(['name', 'owner', 'scopes.0']);
    const dup = await r.post('/clients', { name: name.toUpperCase(), owner: 'root', scopes: ['read'] });
    expect(dup.status).toBe(422);
    expect(dup.body.error.details.fields.name).toContain('already has this name');

    const changed = await r.patch(`/clients/${id}`, { scopes: ['read', 'write'], rateLimitPerMinute: 600, description: 'Billing' });
    expect(changed.body).toMatchObject({ scopes: ['read', 'write'], rateLimitPerMinute: 600, description: 'Billing' });
    expect((await r.patch(`/clients/${id}`, { rateLimitPerMinute: null })).body.rateLimitPerMinute).toBeNull();
    expect((await r.get(`/clients/${id}`)).body.name).toBe(name);
    expect((await r.get('/clients').query({ q: name })).body.items.map((c: { id: number }) => c.id)).toEqual([id]);

    const issued = await r.post(`/clients/${id}/tokens`, { name: 'ci', expiresInDays: 30 });
    expect(issued.status).toBe(201);
    expect(issued.body.token).toMatch(/^ghc_/);
    const tokens = await r.get(`/clients/${id}/tokens`);
    expect(tokens.body.items).toHaveLength(1);
    expect(JSON.stringify(tokens.body)).not.toContain(issued.body.token);
    expect((await api(issued.body.token).get('/users')).status).toBe(200);
    const revoked = await r.delete(`/clients/${id}/tokens/${issued.body.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    expect((await r.delete(`/clients/${id}/tokens/${issued.body.id}`)).status).toBe(409);
    expect((await api(issued.body.token).get('/users')).status).toBe(401);

    const disabled = await r.patch(`/clients/${id}`, { status: 'disabled' });
    expect(disabled.body.status).toBe('disabled');
    expect(await auditOf('client.disable', id)).toBeDefined();
    expect((await r.delete(`/clients/${id}`)).body).toEqual({ deleted: id, name });
    expect((await r.get(`/clients/${id}`)).status).toBe(404);
  });

  it('is for Superusers only', async () => {
    const analystRole = await t.make.makeRole(unique('API reader'), { permissions: ['api.access', 'users.manage'] });
    await t.makeUser({ username: 'notsuper', role: analystRole.name });
    const res = await api(await t.token('notsuper')).get('/clients');
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
  });
});

describe('a client token on the API', () => {
  it('with `decisions` calls the decision endpoints only, and is told which scope it lacks elsewhere', async () => {
    const client = await t.make.makeClient({ owner: 'root', scopes: ['decisions'] });
    const c = api(await t.make.clientToken(client.id));
    const one = await c.post('/check', CHECK);
    expect(one.status).toBe(200);
    expect(typeof one.body.allowed).toBe('boolean');
    expect((await c.post('/check/batch', { checks: [CHECK, CHECK] })).body.results).toHaveLength(2);

    const read = await c.get('/users');
    expect(read.status).toBe(403);
    expect(read.body.error).toMatchObject({ code: 'insufficient_scope', details: { scope: 'read' } });
    expect(read.body.error.message).toContain('"read"');
    expect(read.headers['www-authenticate']).toContain('error="insufficient_scope", scope="read"');
    const write = await c.post('/groups', { name: unique('Nope') });
    expect(write.status).toBe(403);
    expect(write.body.error.details.scope).toBe('write');
    expect((await c.get('/users/reader/effective-permissions').query({ workspace: '/Root' })).body.error.details.scope).toBe('read');
  });

  it('with `read` reads but neither decides nor writes', async () => {
    const client = await t.make.makeClient({ owner: 'root', scopes: ['read'] });
    const c = api(await t.make.clientToken(client.id));
    expect((await c.get('/users')).status).toBe(200);
    const decide = await c.post('/check', CHECK);
    expect(decide.status).toBe(403);
    expect(decide.body.error.details.scope).toBe('decisions');
    expect((await c.post('/groups', { name: unique('Nope') })).body.error.details.scope).toBe('write');
  });

  it('with `write` changes things as the owner, and the audit log names the client', async () => {
    const client = await t.make.makeClient({ owner: 'root', scopes: ['write'] });
    const c = api(await t.make.clientToken(client.id));
    const name = unique('Made by a client');
    const made = await c.post('/groups', { name });
    expect(made.status).toBe(201);
    const event = await t.db('audit_events').where({ action: 'group.create', object_label: name }).first();
    expect(event.actor_username).toBe(`client:${client.name}`.toLowerCase());
    expect(event.actor_id).toBe(await t.make.userId('root'));
  });

  it('with `write` changes accounts only as its owner may (who may change whom)', async () => {
    const integrator = await t.make.makeRole(unique('Integrator'), { template: 'viewer', permissions: ['users.manage', 'api.access'] });
    const ownerName = unique('integrator');
    await t.makeUser({ username: ownerName, role: integrator.name });
    const client = await t.make.makeClient({ owner: ownerName, scopes: ['write'] });
    const c = api(await t.make.clientToken(client.id));
    const ordinary = unique('ordinary');
    const peer = unique('peer');
    await t.makeUser({ username: ordinary });
    await t.makeUser({ username: peer, role: 'administrator' });
    expect((await c.post(`/users/${ordinary}/deactivate`)).status).toBe(200);
    const refused = await c.post(`/users/${peer}/deactivate`);
    expect(refused.status).toBe(403);
    expect((await t.make.user(peer)).status).toBe('active');
    const self = await c.post(`/users/${ownerName}/deactivate`);
    expect(self.status).toBe(403);
    expect(self.body.error.code).toBe('self_protection');
  });

  it('with `scim` calls nothing of /api/v1', async () => {
    const client = await t.make.makeClient({ owner: 'root', scopes: ['scim'] });
    const c = api(await t.make.clientToken(client.id));
    expect((await c.get('/users')).body.error.details.scope).toBe('read');
    expect((await c.post('/check', CHECK)).body.error.details.scope).toBe('decisions');
  });

  it('acts with its owner’s permissions: refused when the owner lacks them or cannot sign in', async () => {
    const ownerName = unique('owner');
    await t.makeUser({ username: ownerName, role: 'viewer' });
    const client = await t.make.makeClient({ owner: ownerName, scopes: ['decisions', 'read'] });
    const token = await t.make.clientToken(client.id);
    const noApi = await api(token).get('/users');
    expect(noApi.status).toBe(403);
    expect(noApi.body.error.message).toContain(ownerName);

    const adminOwner = unique('owner');
    await t.makeUser({ username: adminOwner, role: 'administrator' });
    const adminRole = (await t.make.user(adminOwner)).roleId!;
    await t.db('role_permissions').insert({ role_id: adminRole, permission_key: 'api.access' }).onConflict().ignore();
    // Written past the services: told to the decision state as every writer does.
    await recordChange(t.db, { kind: 'role', id: adminRole });
    const second = await t.make.makeClient({ owner: adminOwner, scopes: ['decisions'] });
    const secondToken = await t.make.clientToken(second.id);
    expect((await api(secondToken).post('/check', CHECK)).status).toBe(200);
    await request(t.server).post(`/api/v1/users/${adminOwner}/deactivate`).set(bearer(rootToken));
    const gone = await api(secondToken).post('/check', CHECK);
    expect(gone.status).toBe(401);
    expect(gone.body.error.code).toBe('account_disabled');
    await request(t.server).post(`/api/v1/users/${adminOwner}/reactivate`).set(bearer(rootToken));
  });

  it('refuses an expired token with 401', async () => {
    const client = await t.make.makeClient({ owner: 'root', scopes: ['decisions'] });
    const token = await t.make.clientToken(client.id, { expiresInDays: 1 });
    await t.db('client_tokens').where({ client_id: client.id }).update({ expires_at: Date.now() - 1000 });
    for (const { id } of await t.db('client_tokens').where({ client_id: client.id }).select('id')) await recordChange(t.db, { kind: 'client_token', id });
    expect((await api(token).post('/check', CHECK)).status).toBe(401);
  });
});

describe('rate limits', () => {
  let limited: TestApp;
  beforeAll(async () => {
    limited = await createTestApp({ apiRateLimitPerMinute: 3 });
    await limited.makeUser({ username: 'root', role: 'superuser' });
    await limited.makeUser({ username: 'reader' });
  });
  afterAll(async () => limited?.close());

  const check = (token: string) => request(limited.server).post('/api/v1/check').set(bearer(token)).send(CHECK);

  it('a client without a limit is not held to the personal tokens’ limit; one with a limit gets 429 past it', async () => {
    const personal = await limited.token('root');
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await check(personal)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);

    const free = await limited.make.makeClient({ owner: 'root', scopes: ['decisions'] });
    const freeToken = await limited.make.clientToken(free.id);
    for (let i = 0; i < 10; i++) expect((await check(freeToken)).status).toBe(200);

    const capped = await limited.make.makeClient({ owner: 'root', scopes: ['decisions'], rateLimitPerMinute: 2 });
    // The limit is the client's, shared by all its tokens.
    const [a, b] = [await limited.make.clientToken(capped.id), await limited.make.clientToken(capped.id)];
    expect((await check(a)).status).toBe(200);
    expect((await check(b)).status).toBe(200);
    const over = await check(a);
    expect(over.status).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe('unique names under concurrency', () => {
  it('creates one client when several requests race for the same name', async () => {
    const name = unique('racer');
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => api(rootToken).post('/clients', { name: i % 2 ? name.toUpperCase() : name, owner: 'root', scopes: ['decisions'] })),
    );
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([201, 422, 422, 422, 422, 422]);
    for (const a of answers.filter((x) => x.status === 422)) expect(a.body.error.details.fields.name).toContain('already has this name');
    expect(await t.db('machine_clients').where({ name_lower: name.toLowerCase() }).count({ n: '*' }).first()).toMatchObject({ n: 1 });
  });
});
