import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import { authzen } from '../support/authzen';
import { headPosition } from '../../src/changes/service';
import { P } from '../../src/permissions/catalog';

/**
 * AuthZEN beyond the certification scenario: the batch semantics, the explanation in the decision's context,
 * how resources are named (external key, path, id, level), unknown names, freshness tokens and who may call.
 */
let t: TestApp;
let token: string;
let salesId: number;

const ev = (user: string, action: string, type: string, id: string, properties?: Record<string, unknown>) => ({
  subject: { type: 'user', id: user },
  action: { name: action },
  resource: { type, id, ...(properties ? { properties } : {}) },
});

beforeAll(async () => {
  t = await createTestApp({ apiRateLimitPerMinute: 1_000_000 });
  await t.makeUser({ username: 'az-admin', role: 'superuser' });
  token = await t.token('az-admin');
  await t.makeUser({ username: 'dana', license: 'process_modeler' });
  await t.makeUser({ username: 'pm', license: 'project_manager' });
  await t.make.makeGroup('Sales team', ['dana', 'pm']);
  await t.make.makeGroup('Auditors', ['dana']);
  const sales = await t.make.makeWorkspace('/Root/Sales');
  salesId = sales.id;
  await t.make.setExternalKey(sales.id, 'crm:account:42');
  await t.make.makeWorkspace('/Root/Sales/EMEA');
  await t.make.grant('Sales team', { domain: 'Files', workspace: '/Root/Sales', operations: 'RMCD', transitive: true });
  await t.make.grant('Auditors', { domain: 'Files', workspace: '/Root/Sales/EMEA', operations: 'D', effect: 'deny', priority: 'high' });
  await t.make.grant('Sales team', { domain: 'Processes', workspace: '/Root/Sales', operations: 'RM', level: 3 });
});
afterAll(async () => t?.close());

describe('batch semantics', () => {
  const batch = (semantic?: string) => ({
    subject: { type: 'user', id: 'dana' },
    resource: { type: 'files', id: '/Root/Sales/EMEA' },
    ...(semantic ? { options: { evaluations_semantic: semantic } } : {}),
    evaluations: [{ action: { name: 'read' } }, { action: { name: 'delete' } }, { action: { name: 'create' } }],
  });

  it('execute_all (the default) answers every item in order', async () => {
    for (const semantic of [undefined, 'execute_all']) {
      const res = await authzen(t, token, 'evaluations', batch(semantic));
      expect(res.body.evaluations.map((e: { decision: boolean }) => e.decision)).toEqual([true, false, true]);
    }
  });

  it('deny_on_first_deny stops at the first deny and says so', async () => {
    const res = await authzen(t, token, 'evaluations', batch('deny_on_first_deny'));
    expect(res.body.evaluations.map((e: { decision: boolean }) => e.decision)).toEqual([true, false]);
    expect(res.body.evaluations[1].context).toMatchObject({ code: '200', reason: 'deny_on_first_deny' });
  });

  it('permit_on_first_permit stops at the first permit', async () => {
    const res = await authzen(t, token, 'evaluations', { ...batch('permit_on_first_permit'), evaluations: [{ action: { name: 'delete' } }, { action: { name: 'read' } }, { action: { name: 'create' } }] });
    expect(res.body.evaluations.map((e: { decision: boolean }) => e.decision)).toEqual([false, true]);
  });

  it('refuses an unknown semantic and a batch over the limit as a whole (400)', async () => {
    expect((await authzen(t, token, 'evaluations', batch('whatever'))).status).toBe(400);
    const many = { ...batch(), evaluations: Array.from({ length: 1001 }, () => ({ action: { name: 'read' } })) };
    expect((await authzen(t, token, 'evaluations', many)).status).toBe(400);
  });
});

describe('the explanation', () => {
  it('names the deciding permission, its rung, group and workspace, and the other matches', async () => {
    const res = await authzen(t, token, 'evaluation', ev('dana', 'delete', 'files', '/Root/Sales/EMEA'));
    expect(res.body.decision).toBe(false);
    const admin = res.body.context.reason_admin;
    expect(admin).toMatchObject({ reason: 'rule', rung: 'High Deny', group: 'Auditors', workspace: '/Root/Sales/EMEA' });
    expect(admin.permission).toMatchObject({ effect: 'deny', priority: 'high', operations: 'D' });
    expect(admin.other_matches).toEqual([expect.objectContaining({ group: 'Sales team', effect: 'allow' })]);
    expect(admin.en).toContain('High Deny');
    expect(res.body.context.reason_user.en).toBe('Your permissions do not allow this.');
  });

  it('says when the license caps an allow', async () => {
    const res = await authzen(t, token, 'evaluation', ev('pm', 'modify', 'processes', '/Root/Sales'));
    expect(res.body.decision).toBe(false);
    expect(res.body.context.reason_admin).toMatchObject({ reason: 'license', rung: 'Low Allow', group: 'Sales team' });
    expect(res.body.context.reason_user.en).toBe('Your license does not include this.');
  });
});

describe('naming resources', () => {
  it('finds a workspace by external key, path or id, and write is modify', async () => {
    for (const id of ['crm:account:42', '/Root/Sales', '/root/sales', String(salesId)]) {
      for (const action of ['modify', 'write', 'WRITE']) {
        expect((await authzen(t, token, 'evaluation', ev('dana', action, 'files', id))).body.decision, `${action} ${id}`).toBe(true);
      }
    }
    // External keys match exactly.
    expect((await authzen(t, token, 'evaluation', ev('dana', 'read', 'files', 'CRM:ACCOUNT:42'))).body.decision).toBe(false);
  });

  it('decides at the element level of properties.level in a domain with levels', async () => {
    expect((await authzen(t, token, 'evaluation', ev('dana', 'read', 'processes', '/Root/Sales', { level: 3 }))).body.decision).toBe(true);
    expect((await authzen(t, token, 'evaluation', ev('dana', 'read', 'processes', '/Root/Sales', { level: 4 }))).body.decision).toBe(false);
    // A level out of range is a malformed request; in a batch item named by text, that item's error.
    expect((await authzen(t, token, 'evaluation', ev('dana', 'read', 'processes', '/Root/Sales', { level: 12 }), { valid: true })).status).toBe(400);
    const batch = await authzen(t, token, 'evaluations', { evaluations: [ev('dana', 'read', 'processes', '/Root/Sales', { level: '12' }), ev('dana', 'read', 'processes', '/Root/Sales', { level: '2' })] });
    expect(batch.body.evaluations[0]).toMatchObject({ decision: false, context: { error: { status: 400 } } });
    expect(batch.body.evaluations[1].decision).toBe(true);
  });

  it('denies, with the reason, what names no user, domain, workspace or action', async () => {
    for (const e of [ev('nobody', 'read', 'files', '/Root'), ev('dana', 'read', 'spaceships', '/Root'), ev('dana', 'read', 'files', 'record-404'), ev('dana', 'fly', 'files', '/Root')]) {
      const res = await authzen(t, token, 'evaluation', e);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ decision: false, context: { error: { status: 404 } } });
    }
    const machine = await authzen(t, token, 'evaluation', { ...ev('dana', 'read', 'files', '/Root'), subject: { type: 'service', id: 'dana' } });
    expect(machine.body.decision).toBe(false);
  });
});

describe('freshness and callers', () => {
  it('accepts a consistency token in the context or the header, and refuses a malformed one', async () => {
    await t.make.grant('Auditors', { domain: 'Reports', workspace: '/Root/Sales', operations: 'R' });
    const position = await headPosition(t.db);
    const body = ev('dana', 'read', 'reports', '/Root/Sales');
    expect((await authzen(t, token, 'evaluation', { ...body, context: { consistency_token: String(position) } })).body.decision).toBe(true);
    expect((await authzen(t, token, 'evaluation', body, { headers: { 'Gatehouse-Consistency-Token': String(position) } })).body.decision).toBe(true);
    expect((await authzen(t, token, 'evaluation', { ...body, context: { consistency_token: 'yesterday' } })).status).toBe(400);
    expect((await authzen(t, token, 'evaluation', body, { headers: { 'Gatehouse-Consistency-Token': 'x1' } })).status).toBe(400);
  });

  it('needs a token with the permission of /api/v1/check; a decisions-scoped client may call it and nothing else', async () => {
    const body = ev('dana', 'read', 'files', '/Root/Sales');
    expect((await request(t.server).post('/access/v1/evaluation').send(body)).status).toBe(401);
    await t.make.makeRole('API only', { permissions: [P.apiAccess] });
    await t.makeUser({ username: 'api-only', role: 'API only' });
    expect((await authzen(t, await t.token('api-only'), 'evaluation', body)).status).toBe(403);

    const client = await t.make.makeClient({ owner: 'az-admin', scopes: ['decisions'] });
    const clientToken = await t.make.clientToken(client.id);
    expect((await authzen(t, clientToken, 'evaluation', body)).body.decision).toBe(true);
    expect((await authzen(t, clientToken, 'search/action', { subject: body.subject, resource: body.resource }, { valid: false })).status).toBe(200);
    expect((await request(t.server).get('/api/v1/users').set('Authorization', `Bearer ${clientToken}`)).status).toBe(403);
  });
});
