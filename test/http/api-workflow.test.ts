import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, csrfFrom, type TestApp } from '../support/app';
import { apiCheckStats } from '../support/openapi';
import { documentedOperations } from '../support/api';
import { startReceiver } from '../support/receiver';

/**
 * A client working from the document alone: builds an organisation through the API, decides, and tears it
 * down, reaching every documented operation's success response in this one file.
 */
let t: TestApp;
let adminToken: string;

beforeAll(async () => {
  t = await createTestApp({ apiRateLimitPerMinute: 1_000_000 });
  await t.makeUser({ username: 'admin', role: 'superuser' });
  adminToken = await t.token('admin');
});
afterAll(async () => t?.close());

describe('a client working from the document alone', () => {
  type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
  const call = (method: Method, url: string, body?: object, headers: Record<string, string> = {}) => {
    const req = request(t.server)[method](`/api/v1${url}`).set('Authorization', `Bearer ${adminToken}`);
    for (const [k, v] of Object.entries(headers)) req.set(k, v);
    return body === undefined ? req : req.send(body);
  };
  const ok = async (p: ReturnType<typeof call>, status = 200) => {
    const res = await p;
    expect(res.status, JSON.stringify(res.body).slice(0, 400)).toBe(status);
    return res.body;
  };

  it('builds an organisation, decides, and tears it down — reaching every operation’s success response', async () => {
    expect((await request(t.server).get('/api/v1/openapi.json')).status).toBe(200);

    // Workspaces
    const org = await ok(call('post', '/workspaces', { name: 'Org' }), 201);
    const sales = await ok(call('post', '/workspaces', { name: 'Sales', parent: '/Root/Org' }), 201);
    expect(sales.path).toBe('/Root/Org/Sales');
    expect((await ok(call('get', '/workspaces?q=Sales&limit=5'))).items.map((w: { path: string }) => w.path)).toContain('/Root/Org/Sales');
    expect((await ok(call('get', `/workspaces/${sales.id}`))).children).toBe(0);
    expect((await ok(call('patch', `/workspaces/${sales.id}`, { name: 'Sales EMEA', version: sales.version }))).path).toBe('/Root/Org/Sales EMEA');

    // Groups
    await ok(call('post', '/groups', { name: 'Org Analysts', description: 'Analysts' }), 201);
    await ok(call('post', '/groups', { name: 'Org Managers' }), 201);
    expect((await ok(call('get', '/groups?q=org'))).total).toBe(2);
    const analysts = await ok(call('get', '/groups/Org%20Analysts'));
    await ok(call('patch', '/groups/Org%20Analysts', { description: 'Analysts of the organisation', version: analysts.version }));

    // Roles
    const builtIn = (await ok(call('get', '/roles?limit=500'))).items.find((r: { builtinKey: string }) => r.builtinKey === 'analyst');
    const role = await ok(call('post', '/roles', { name: 'Org Analyst', template: 'analyst' }), 201);
    expect((await ok(call('get', `/roles/${role.id}`))).permissions).toEqual(builtIn.permissions);
    const patched = await ok(call('patch', `/roles/${role.id}`, { description: 'Analysts with API access', version: role.version }));
    const perms = await ok(call('get', `/roles/${role.id}/permissions`));
    await ok(call('put', `/roles/${role.id}/permissions`, { permissions: [...perms.permissions, 'api.access'], version: patched.version }));
    expect((await ok(call('put', '/roles/default', { role: role.id }))).isDefault).toBe(true);
    await ok(call('put', '/roles/default', { role: builtIn.id }));

    // Licenses
    expect((await ok(call('get', '/licenses'))).items.length).toBeGreaterThan(1);
    const modeler = await ok(call('get', '/licenses/process_modeler'));
    await ok(call('patch', '/licenses/process_modeler', { seatLimit: null, version: modeler.version }));
    expect((await ok(call('get', '/licenses/process_modeler/caps'))).caps).toHaveProperty('processes');
    await ok(call('put', '/licenses/process_modeler/caps', { caps: { processes: 'RMCD' } }));

    // Users
    const ann = await ok(call('post', '/users', { username: 'ann.org', firstName: 'Ann', lastName: 'Org', email: 'ann@org.example', password: 'a-long-secret-passphrase', role: 'Org Analyst', groups: ['Org Analysts'] }), 201);
    expect(ann.groups).toEqual([{ id: analysts.id, name: 'Org Analysts' }]);
    await ok(call('post', '/users', { username: 'max.org', firstName: 'Max', lastName: 'Org', email: 'max@org.example', password: 'another-long-passphrase' }), 201);
    expect((await ok(call('get', '/users?q=org&sort=name'))).items.map((u: { username: string }) => u.username)).toEqual(['ann.org', 'max.org']);
    expect((await ok(call('get', '/users/ann.org'))).role.name).toBe('Org Analyst');
    expect((await ok(call('patch', '/users/max.org', { groups: ['Org Managers'] }))).groups.map((g: { name: string }) => g.name)).toEqual(['Org Managers']);

    // Members and approval relations
    expect((await ok(call('post', '/groups/Org%20Analysts/members', { add: ['max.org'] }))).addedCount).toBe(1);
    expect((await ok(call('get', '/groups/Org%20Analysts/members'))).total).toBe(2);
    expect((await ok(call('post', '/groups/Org%20Analysts/members', { remove: ['max.org'] }))).removedCount).toBe(1);
    await ok(call('post', '/group-relations', { requester: 'Org Analysts', approver: 'Org Managers' }), 201);
    expect((await ok(call('get', '/group-relations?q=Org'))).items).toHaveLength(1);
    expect((await ok(call('get', '/users/ann.org/approvers'))).approverGroups.map((g: { name: string }) => g.name)).toEqual(['Org Managers']);

    // Domain permissions and decisions
    const perm = await ok(call('post', '/groups/Org%20Analysts/permissions', { effect: 'allow', domain: 'Processes', workspace: '/Root/Org', transitive: true, operations: 'RM', level: 0, priority: 'low' }), 201);
    expect((await ok(call('get', '/groups/Org%20Analysts/permissions'))).items).toHaveLength(1);
    const read = await call('get', `/permissions/${perm.id}`);
    expect(read.status).toBe(200);
    await ok(call('patch', `/permissions/${perm.id}`, { operations: 'RMC' }, { 'If-Match': read.headers.etag }));
    const decision = await ok(call('post', '/check', { user: 'ann.org', domain: 'Processes', operation: 'C', workspace: '/Root/Org/Sales EMEA' }));
    expect(decision).toMatchObject({ allowed: true, reason: 'rule' });
    const batch = await ok(call('post', '/check/batch', { checks: [{ user: 'ann.org', domain: 'Processes', operation: 'D', workspace: '/Root/Org' }, { user: 'nobody', domain: 'Processes', operation: 'R', workspace: '/Root' }] }));
    expect(batch.results[0].allowed).toBe(false);
    expect(batch.results[1].error.status).toBe(422);
    const grid = await ok(call('get', `/users/ann.org/effective-permissions?workspace=${encodeURIComponent('/Root/Org/Sales EMEA')}`));
    expect(grid.domains.find((d: { key: string }) => d.key === 'processes').allowed).toBe('RMC');

    // A domain of another application, a workspace named by the suite's own id, and AuthZEN over them
    const tickets = await ok(call('post', '/domains', { key: 'tickets', name: 'Tickets' }), 201);
    expect((await ok(call('get', '/domains'))).items.map((d: { key: string }) => d.key)).toContain('tickets');
    await ok(call('patch', '/domains/tickets', { usesLevels: false }));
    expect((await ok(call('get', '/domains/tickets'))).permissions).toBe(0);
    await ok(call('patch', `/workspaces/${sales.id}`, { externalKey: 'ticket-queue-7' }));
    const ticketPerm = await ok(call('post', '/groups/Org%20Analysts/permissions', { effect: 'allow', domain: tickets.key, workspace: sales.id, operations: 'RM' }), 201);
    const authzen = (path: string, body: object) => request(t.server).post(`/access/v1${path}`).set('Authorization', `Bearer ${adminToken}`).send(body);
    const ask = { subject: { type: 'user', id: 'ann.org' }, action: { name: 'write' }, resource: { type: 'tickets', id: 'ticket-queue-7' } };
    expect((await ok(authzen('/evaluation', ask))).decision).toBe(true);
    expect((await ok(authzen('/evaluations', { ...ask, evaluations: [{}, { action: { name: 'delete' } }] }))).evaluations.map((e: { decision: boolean }) => e.decision)).toEqual([true, false]);
    expect((await ok(authzen('/search/subject', { ...ask, subject: { type: 'user' } }))).results).toEqual([{ type: 'user', id: 'ann.org' }]);
    expect((await ok(authzen('/search/resource', { ...ask, resource: { type: 'tickets' } }))).results).toEqual([{ type: 'tickets', id: 'ticket-queue-7' }]);
    expect((await ok(authzen('/search/action', { subject: ask.subject, resource: ask.resource }))).results.map((a: { name: string }) => a.name)).toEqual(['read', 'modify', 'write']);
    expect((await ok(request(t.server).get('/.well-known/authzen-configuration'))).access_evaluation_endpoint).toMatch(/\/access\/v1\/evaluation$/);
    await ok(call('delete', `/permissions/${ticketPerm.id}`));
    expect((await ok(call('delete', '/domains/tickets'))).deleted).toBe('tickets');

    // Role assignment
    expect((await ok(call('get', `/roles/${role.id}/users`))).items.map((u: { username: string }) => u.username)).toEqual(['ann.org']);
    expect((await ok(call('post', `/roles/${role.id}/users`, { add: ['max.org'] }))).added).toBe(1);

    // Assets
    const asset = await ok(call('post', '/assets', { kind: 'model', name: 'Order to cash', owner: 'ann.org', workspace: '/Root/Org/Sales EMEA' }), 201);
    expect((await ok(call('get', '/assets?owner=ann.org'))).total).toBe(1);
    expect((await ok(call('get', `/assets/${asset.id}`))).workspace).toBe('/Root/Org/Sales EMEA');
    await ok(call('patch', `/assets/${asset.id}`, { name: 'Order to cash v2' }));
    expect((await ok(call('post', `/assets/${asset.id}/transfer`, { to: 'max.org' }))).owner).toBe('max.org');
    expect((await ok(call('put', `/assets/${asset.id}/shares`, { group: 'Org Analysts', access: 'viewer' }))).shares).toEqual([{ group: 'Org Analysts', access: 'viewer' }]);
    expect((await ok(call('delete', `/assets/${asset.id}/shares/Org%20Analysts`))).shares).toEqual([]);

    // Account actions
    expect((await ok(call('post', '/users/max.org/deactivate'))).status).toBe('deactivated');
    expect((await ok(call('post', '/users/max.org/reactivate'))).status).toBe('active');
    expect((await ok(call('post', '/users/max.org/unlock'))).locked).toBe(false);
    expect((await ok(call('post', '/users/max.org/end-sessions'))).sessionsEnded).toBe(0);

    // Sign-in: a session and a second factor of max.org, ended and reset by the administrator
    const maxAgent = request.agent(t.server);
    const loginForm = await maxAgent.get('/login');
    await maxAgent.post('/login').type('form').send({ _csrf: csrfFrom(loginForm.text), username: 'max.org', password: 'another-long-passphrase' }).expect(303);
    await t.make.enrolTotp('max.org');
    const signInState = await ok(call('get', '/users/max.org/sign-in'));
    expect(signInState.secondFactor.totp).toBe(true);
    expect((await ok(call('delete', `/users/max.org/sessions/${signInState.sessions[0].id}`))).ended).toBe(signInState.sessions[0].id);
    expect((await ok(call('delete', '/users/max.org/second-factor'))).removed.totp).toBe(true);

    // Webhooks: register, test, deliver, redeliver, rotate, change, remove
    const receiver = await startReceiver();
    try {
      const hook = await ok(call('post', '/webhooks', { url: receiver.url, eventTypes: ['user.removed'], description: 'Workflow' }), 201);
      expect(hook.secret).toMatch(/^whsec_/);
      expect((await ok(call('get', '/webhooks'))).items.map((h: { id: number }) => h.id)).toContain(hook.id);
      const queued = await ok(call('post', `/webhooks/${hook.id}/test`), 202);
      await t.gate.webhooks.runOnce();
      expect(receiver.received.map((r) => r.headers['webhook-id'])).toEqual([queued.messageId]);
      const log = await ok(call('get', `/webhooks/${hook.id}/deliveries`));
      expect(log.items[0]).toMatchObject({ status: 'delivered', responseStatus: 204, attempts: 1 });
      expect((await ok(call('post', `/webhooks/${hook.id}/deliveries/${log.items[0].id}/redeliver`), 202)).messageId).toBe(queued.messageId);
      expect((await ok(call('post', `/webhooks/${hook.id}/secret`))).secret).not.toBe(hook.secret);
      expect((await ok(call('patch', `/webhooks/${hook.id}`, { enabled: false }))).enabled).toBe(false);
      expect((await ok(call('get', `/webhooks/${hook.id}`))).pending).toBe(1);
      await ok(call('delete', `/webhooks/${hook.id}`), 204);
    } finally {
      await receiver.close();
    }

    // Machine clients: a service with the decisions scope gets a token, decides, and is retired
    const service = await ok(call('post', '/clients', { name: 'orders-service', owner: 'admin', scopes: ['decisions'] }), 201);
    expect((await ok(call('get', '/clients?q=orders'))).items.map((c: { id: number }) => c.id)).toEqual([service.id]);
    expect((await ok(call('get', `/clients/${service.id}`))).scopes).toEqual(['decisions']);
    expect((await ok(call('patch', `/clients/${service.id}`, { rateLimitPerMinute: 6000 }))).rateLimitPerMinute).toBe(6000);
    const issued = await ok(call('post', `/clients/${service.id}/tokens`, { name: 'production' }), 201);
    const asService = (path: string, body: object) => request(t.server).post(`/api/v1${path}`).set('Authorization', `Bearer ${issued.token}`).send(body);
    expect((await asService('/check', { user: 'admin', domain: 'Files', operation: 'R', workspace: '/Root' })).status).toBe(200);
    expect((await request(t.server).get('/api/v1/users').set('Authorization', `Bearer ${issued.token}`)).status).toBe(403);
    expect((await ok(call('get', `/clients/${service.id}/tokens`))).items.map((k: { id: number }) => k.id)).toEqual([issued.id]);
    expect((await ok(call('delete', `/clients/${service.id}/tokens/${issued.id}`))).revokedAt).not.toBeNull();
    expect((await asService('/check', { user: 'admin', domain: 'Files', operation: 'R', workspace: '/Root' })).status).toBe(401);
    expect((await ok(call('delete', `/clients/${service.id}`))).deleted).toBe(service.id);

    // The trail, page by page
    const page1 = await ok(call('get', '/audit?limit=3'));
    expect(page1.items).toHaveLength(3);
    const page2 = await ok(call('get', `/audit?limit=3&cursor=${page1.nextCursor}`));
    expect(page2.items[0].id).toBeLessThan(page1.items[2].id);

    // Tear down
    expect((await ok(call('delete', `/assets/${asset.id}`))).deleted).toBe(asset.id);
    await ok(call('delete', `/permissions/${perm.id}`));
    await ok(call('delete', '/group-relations?requester=Org%20Analysts&approver=Org%20Managers'));
    expect((await ok(call('delete', '/users/max.org'))).deleted).toBe('max.org');
    await ok(call('delete', '/groups/Org%20Managers'));
    expect((await ok(call('delete', `/roles/${role.id}?moveTo=${builtIn.id}`))).usersMoved).toBe(1);
    await ok(call('delete', `/workspaces/${sales.id}`));
    await ok(call('delete', `/workspaces/${org.id}`));

    // Every documented operation has now answered with a documented success at least once in this file.
    const succeeded = new Set([...apiCheckStats.matched].filter((m) => / 2\d\d$/.test(m)).map((m) => m.replace(/ \d+$/, '')));
    expect(documentedOperations().map((o) => o.key).filter((k) => !succeeded.has(k))).toEqual([]);
  });

  it('documents the refusals a client meets: removing yourself, a stale ETag, emptying the default role', async () => {
    await t.make.makeUser({ username: 'sweeper' });
    await t.make.makeGroup('Sweep Group', ['sweeper']);
    await t.make.makeWorkspace('/Root/Sweep');
    const self = await call('delete', '/users/admin');
    expect(self.status).toBe(403);
    expect(self.body.error.code).toBe('self_protection');

    const perm = await ok(call('post', '/groups/Sweep%20Group/permissions', { effect: 'deny', domain: 'Files', workspace: '/Root/Sweep', operations: 'D' }), 201);
    expect((await call('delete', `/permissions/${perm.id}`, undefined, { 'If-Match': 'yesterday' })).status).toBe(400);
    await ok(call('patch', `/permissions/${perm.id}`, { operations: 'CD' }));
    const stale = await call('delete', `/permissions/${perm.id}`, undefined, { 'If-Match': '"1"' });
    expect(stale.status).toBe(409);
    await ok(call('delete', `/permissions/${perm.id}`, undefined, { 'If-Match': '"2"' }));

    // Users removed from the default role would have nowhere to go: refused, nothing changes.
    const defaultRole = (await ok(call('get', '/roles?limit=500'))).items.find((r: { isDefault: boolean }) => r.isDefault);
    const nowhere = await call('post', `/roles/${defaultRole.id}/users`, { remove: ['sweeper'] });
    expect(nowhere.status).toBe(409);
    expect((await ok(call('get', '/users/sweeper'))).role.name).toBe(defaultRole.name);
  });
});
