/**
 * Webhook endpoints in the console and the API (Superusers), and the outbox: events written in the
 * transaction of the change, only for enabled endpoints subscribed to them, one per user for bulk changes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { createTestApp, $, type Agent, type TestApp } from '../support/app';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as users from '../../src/users/service';
import * as bulk from '../../src/users/bulk';
import * as groups from '../../src/groups/service';
import { sealingKey } from '../../src/webhooks/secrets';
import { unseal } from '../../src/crypto/seal';
import { patchOp, scimClient } from '../support/scim';
import { ACTIONS_WITHOUT_EVENTS, MAPPED_ACTIONS } from '../../src/webhooks/events';
import fs from 'node:fs';
import path from 'node:path';

let t: TestApp;
let admin: Agent;
let token: string;
const HOOK = 'http://127.0.0.1:9/hooks';

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'root-hooks', role: 'superuser' });
  admin = await t.signIn('root-hooks');
  token = await t.token('root-hooks');
});
afterAll(async () => t?.close());

const api = () => ({
  get: (p: string) => request(t.server).get(`/api/v1${p}`).set('Authorization', `Bearer ${token}`),
  post: (p: string, body?: object) => {
    const r = request(t.server).post(`/api/v1${p}`).set('Authorization', `Bearer ${token}`);
    return body ? r.send(body) : r;
  },
  patch: (p: string, body: object) => request(t.server).patch(`/api/v1${p}`).set('Authorization', `Bearer ${token}`).send(body),
  delete: (p: string) => request(t.server).delete(`/api/v1${p}`).set('Authorization', `Bearer ${token}`),
});

async function queued(endpointId: number): Promise<Array<{ type: string; name: string; data: Record<string, unknown> }>> {
  const rows = await t.db('webhook_deliveries').where({ endpoint_id: endpointId }).orderBy('id');
  return rows.map((r: { event_type: string; payload: string }) => {
    const body = JSON.parse(r.payload);
    return { type: r.event_type, name: body.data.object?.name, data: body.data };
  });
}

describe('endpoints in the console', () => {
  it('a Superuser adds an endpoint; every field problem is shown on the form; the secret is shown once', async () => {
    const form = await admin.get('/settings/webhooks/new');
    expect(form.status).toBe(200);
    expect($(form.text)('input[name=eventTypes]').length).toBeGreaterThan(10);

    const bad = await admin.post('/settings/webhooks/new').type('form').send({ _csrf: admin.csrf, url: 'http://10.1.2.3/hook', description: 'x'.repeat(501) });
    expect(bad.status).toBe(422);
    const page = $(bad.text);
    expect(page('#e-url').text()).toContain('private');
    expect(page('#e-description').text()).toContain('at most 500');
    expect(page('#e-eventTypes').text()).toContain('at least one event');
    expect(page('#f-url').val()).toBe('http://10.1.2.3/hook');

    const metadata = await admin.post('/settings/webhooks/new').type('form').send({ _csrf: admin.csrf, url: 'https://169.254.169.254/latest', eventTypes: 'user.created' });
    expect($(metadata.text)('#e-url').text()).toContain('169.254.169.254');

    const ok = await admin
      .post('/settings/webhooks/new')
      .type('form')
      .send({ _csrf: admin.csrf, url: HOOK, description: 'Directory sync', eventTypes: ['user.created', 'user.deactivated'], enabled: 'on' });
    expect(ok.status).toBe(303);
    expect(ok.headers.location).toMatch(/^\/settings\/webhooks\/\d+\/secret$/);
    const shown = await admin.get(ok.headers.location);
    const secret = $(shown.text)('#webhook-secret').text();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const again = await admin.get(ok.headers.location);
    expect($(again.text)('#webhook-secret').length).toBe(0);
    expect(again.text).toContain('shown once');

    // Stored encrypted: the row does not hold the secret, and the configured key opens it.
    const id = Number(/\/(\d+)\/secret$/.exec(ok.headers.location)![1]);
    const row = await t.db('webhook_endpoints').where({ id }).first();
    expect(JSON.stringify(row)).not.toContain(secret.slice(6, 30));
    expect(unseal(await sealingKey(t.db, t.config), row.secret_sealed)).toBe(secret);

    const list = await admin.get('/settings/webhooks');
    expect($(list.text)(`a[href="/settings/webhooks/${id}"]`).text()).toBe(HOOK);
    expect($(list.text)('nav a[href="/settings/webhooks"]').length).toBe(1);
  });

  it('edits an endpoint, rotates its secret, sends a test event, redelivers, and removes it (no JavaScript needed)', async () => {
    const { endpoint, secret } = await t.make.makeWebhook(HOOK, ['user.created']);
    const base = `/settings/webhooks/${endpoint.id}`;
    const saved = await admin.post(base).type('form').send({ _csrf: admin.csrf, url: HOOK, description: 'Renamed', eventTypes: ['user.created', 'user.removed'] });
    expect(saved.status).toBe(303);
    const after = await t.db('webhook_endpoints').where({ id: endpoint.id }).first();
    expect(JSON.parse(after.event_types)).toEqual(['user.created', 'user.removed']);
    expect(Number(after.enabled)).toBe(0);

    const rotated = await admin.post(`${base}/secret`).type('form').send({ _csrf: admin.csrf });
    expect(rotated.headers.location).toBe(`${base}/secret`);
    const newSecret = $((await admin.get(`${base}/secret`)).text)('#webhook-secret').text();
    expect(newSecret).toMatch(/^whsec_/);
    expect(newSecret).not.toBe(secret);

    expect((await admin.post(`${base}/test`).type('form').send({ _csrf: admin.csrf })).status).toBe(303);
    const log = $((await admin.get(base)).text);
    expect(log('#deliveries tbody tr').first().text()).toContain('webhook.test');
    expect(log('#deliveries tbody tr').first().text()).toContain('Waiting');
    expect(log('#deliveries form[action$="/redeliver"]').length).toBe(0);

    const d = await t.db('webhook_deliveries').where({ endpoint_id: endpoint.id }).first();
    await t.db('webhook_deliveries').where({ id: d.id }).update({ status: 'failed', attempts: 12, last_status_code: 500, last_error: 'Internal error' });
    const failedLog = $((await admin.get(base)).text);
    expect(failedLog('#deliveries tbody tr').first().text()).toMatch(/Failed[\s\S]*500[\s\S]*12[\s\S]*Internal error/);
    const noCsrf = await admin.post(`${base}/deliveries/${d.id}/redeliver`).type('form').send({});
    expect(noCsrf.status).toBe(403);
    const redone = await admin.post(`${base}/deliveries/${d.id}/redeliver`).type('form').send({ _csrf: admin.csrf });
    expect(redone.status).toBe(303);
    const rows = await t.db('webhook_deliveries').where({ endpoint_id: endpoint.id }).orderBy('id');
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ status: 'pending', message_id: rows[0].message_id, redelivery_of: rows[0].id, payload: rows[0].payload });

    const confirm = await admin.get(`${base}/remove`);
    expect($(confirm.text)(`form[action="${base}/remove"]`).length).toBe(1);
    expect((await admin.post(`${base}/remove`).type('form').send({ _csrf: admin.csrf })).status).toBe(303);
    expect(await t.db('webhook_endpoints').where({ id: endpoint.id }).first()).toBeUndefined();
    expect(await t.db('webhook_deliveries').where({ endpoint_id: endpoint.id })).toHaveLength(0);
    expect((await admin.get(base)).status).toBe(404);
  });

  it('pages the delivery log', async () => {
    const { endpoint } = await t.make.makeWebhook(HOOK, ['user.created']);
    for (let i = 0; i < 27; i++) await t.makeUser({ username: `log-${i}` });
    const first = $((await admin.get(`/settings/webhooks/${endpoint.id}`)).text);
    expect(first('#deliveries tbody tr').length).toBe(25);
    expect(first('.pagination a[rel=next]').attr('href')).toBe(`/settings/webhooks/${endpoint.id}?page=2`);
    const second = $((await admin.get(`/settings/webhooks/${endpoint.id}?page=2`)).text);
    expect(second('#deliveries tbody tr').length).toBe(2);
    await t.db('webhook_endpoints').where({ id: endpoint.id }).update({ enabled: false });
  });

  it('is for Superusers only', async () => {
    await t.makeUser({ username: 'adm-hooks', role: 'administrator' });
    const adm = await t.signIn('adm-hooks');
    expect((await adm.get('/settings/webhooks')).status).toBe(403);
    expect($((await adm.get('/account')).text)('nav a[href="/settings/webhooks"]').length).toBe(0);
    const admToken = await t.token('adm-hooks');
    expect((await request(t.server).get('/api/v1/webhooks').set('Authorization', `Bearer ${admToken}`)).status).toBe(403);
  });
});

describe('endpoints through the API', () => {
  it('registers (secret in the response only), reads, changes, rotates, tests, lists deliveries, redelivers and removes', async () => {
    const refused = await api().post('/webhooks', { url: 'https://192.168.1.10/x', eventTypes: ['user.created'] });
    expect(refused.status).toBe(422);
    expect(refused.body.error.details.fields.url).toContain('private');
    const unknown = await api().post('/webhooks', { url: HOOK, eventTypes: ['user.exploded'] });
    expect(unknown.status).toBe(422);

    const created = await api().post('/webhooks', { url: HOOK, eventTypes: ['user.created'], description: 'API' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ url: HOOK, eventTypes: ['user.created'], enabled: true, failing: false, pending: 0 });
    expect(created.body.secret).toMatch(/^whsec_/);
    const id = created.body.id;
    expect(created.headers.location).toBe(`/api/v1/webhooks/${id}`);
    const read = await api().get(`/webhooks/${id}`);
    expect(read.body.secret).toBeUndefined();

    const patched = await api().patch(`/webhooks/${id}`, { eventTypes: ['user.created', 'group.members_changed'] });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ description: 'API', eventTypes: ['user.created', 'group.members_changed'] });

    const rotated = await api().post(`/webhooks/${id}/secret`);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(created.body.secret);

    const test = await api().post(`/webhooks/${id}/test`);
    expect(test.status).toBe(202);
    const log = await api().get(`/webhooks/${id}/deliveries`);
    expect(log.body).toMatchObject({ total: 1, items: [{ eventType: 'webhook.test', status: 'pending', messageId: test.body.messageId, payload: { type: 'webhook.test' } }] });
    const pending = await api().post(`/webhooks/${id}/deliveries/${log.body.items[0].id}/redeliver`);
    expect(pending.status).toBe(409);

    expect((await api().get('/webhooks')).body.items.map((e: { id: number }) => e.id)).toContain(id);
    expect((await api().delete(`/webhooks/${id}`)).status).toBe(204);
    expect((await api().get(`/webhooks/${id}`)).status).toBe(404);
    const trail = await t.db('audit_events').where({ object_type: 'webhook', object_id: String(id) }).orderBy('id').pluck('action');
    expect(trail).toEqual(['webhook.create', 'webhook.update', 'webhook.rotate_secret', 'webhook.test', 'webhook.delete']);
  });
});

describe('the outbox', () => {
  it('writes events in the transaction of the change: none for a change that failed, none for types not subscribed or disabled endpoints', async () => {
    const { endpoint } = await t.make.makeWebhook(HOOK, ['user.created', 'user.deactivated']);
    const disabled = await t.make.makeWebhook(HOOK, ['user.created'], { enabled: false });
    await t.makeUser({ username: 'box-a' });
    await expect(t.makeUser({ username: 'box-a' })).rejects.toThrow();
    const id = await t.make.userId('box-a');
    await users.setStatus(t.db, SYSTEM_ACTOR, id, 'deactivated');
    expect((await queued(endpoint.id)).map((e) => `${e.type} ${e.name}`)).toEqual(['user.created box-a', 'user.deactivated box-a']);
    expect(await queued(disabled.endpoint.id)).toEqual([]);
    await t.db('webhook_endpoints').where({ id: endpoint.id }).update({ enabled: false });
  });

  it('a bulk change produces one event per affected user; a membership change one event for the group', async () => {
    const { endpoint } = await t.make.makeWebhook(HOOK, ['user.deactivated', 'group.members_changed', 'user.role_changed']);
    const ids = [];
    for (const n of ['bulk-1', 'bulk-2', 'bulk-3']) ids.push(await t.makeUser({ username: n }));
    await bulk.apply(t.db, SYSTEM_ACTOR, { action: 'deactivate' }, ids);
    const g = await t.make.makeGroup('Hook group');
    await groups.saveMembers(t.db, SYSTEM_ACTOR, g.id, { add: ids.slice(0, 2), remove: [] });
    const events = await queued(endpoint.id);
    expect(events.filter((e) => e.type === 'user.deactivated').map((e) => e.name)).toEqual(['bulk-1', 'bulk-2', 'bulk-3']);
    expect(events.find((e) => e.type === 'user.deactivated')!.data).toMatchObject({ bulk: true, action: 'user.bulk_deactivate', actor: { username: 'system' } });
    const membership = events.filter((e) => e.type === 'group.members_changed');
    expect(membership).toHaveLength(1);
    expect(membership[0].data).toMatchObject({ object: { type: 'group', name: 'Hook group' }, after: { added: ['bulk-1', 'bulk-2'], addedCount: 2, removedCount: 0 } });
    await t.db('webhook_endpoints').where({ id: endpoint.id }).update({ enabled: false });
  });

  it('a directory deactivating a user through SCIM sends user.deactivated, with the client as the actor', async () => {
    const { endpoint } = await t.make.makeWebhook(HOOK, ['user.created', 'user.deactivated']);
    const scim = scimClient(t, await t.make.scimToken('root-hooks'));
    const created = await scim.post('/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'scim-leaver', name: { givenName: 'Scim', familyName: 'Leaver' }, emails: [{ value: 'scim-leaver@example.com', primary: true }], active: true });
    expect(created.status).toBe(201);
    const off = await scim.patch(`/Users/${created.body.id}`, patchOp({ op: 'replace', value: { active: false } }));
    expect(off.status).toBe(200);
    const events = await queued(endpoint.id);
    expect(events.map((e) => `${e.type} ${e.name}`)).toEqual(['user.created scim-leaver', 'user.deactivated scim-leaver']);
    expect(events[1].data.after).toEqual({ status: 'deactivated' });
    expect((events[1].data.actor as { username: string }).username).toContain('directory');
    await t.db('webhook_endpoints').where({ id: endpoint.id }).update({ enabled: false });
  });

  it('maps every action that changes users, memberships, roles, licenses, permissions, workspaces and tokens', () => {
    for (const action of ['user.create', 'user.update', 'user.delete', 'user.deactivate', 'user.reactivate', 'user.import', 'group.members', 'role.assign_users', 'license.seat_limit', 'license.caps', 'permission.create', 'permission.update', 'permission.delete', 'workspace.create', 'workspace.delete', 'token.revoke']) {
      expect(MAPPED_ACTIONS).toContain(action);
    }
    // Every audit action written anywhere in the code is either mapped to events or deliberately left out.
    const sources = fs.readdirSync('src', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const written = new Set<string>();
    for (const f of sources) for (const m of fs.readFileSync(path.join('src', f), 'utf8').matchAll(/action: (?:[^,]*\? )?'([a-z_]+\.[a-z_]+)'(?: : '([a-z_]+\.[a-z_]+)')?/g)) [m[1], m[2]].filter(Boolean).forEach((a) => written.add(a));
    expect(written.size).toBeGreaterThan(40);
    const leftOut = (a: string) => ACTIONS_WITHOUT_EVENTS.some((x) => (x.endsWith('.*') ? a.startsWith(x.slice(0, -1)) : a === x));
    expect([...written].filter((a) => !MAPPED_ACTIONS.includes(a) && !leftOut(a))).toEqual([]);
    for (const bulkAction of bulk.BULK_ACTION_KEYS.filter((k) => !['end_sessions', 'unlock'].includes(k))) expect(MAPPED_ACTIONS).toContain(`user.bulk_${bulkAction}`);
  });
});
