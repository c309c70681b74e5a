import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { $, createTestApp, type Agent, type TestApp } from '../support/app';

let t: TestApp;
let admin: Agent;
let token: string;
let rootId: number;

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'admin', role: 'administrator' });
  await t.makeUser({ username: 'owner1' });
  await t.makeUser({ username: 'owner2' });
  await t.make.makeGroup('Sales');
  admin = await t.signIn('admin');
  await t.makeUser({ username: 'superadmin', role: 'superuser' });
  token = await t.token('superadmin');
  rootId = (await t.db('workspaces').whereNull('parent_id').first('id')).id;
});
afterAll(async () => t?.close());

describe('assets in the console', () => {
  /** The asset each test works on: a model owned by owner1, made afresh. */
  let assetId: number;
  beforeEach(async () => {
    assetId = (await t.make.makeAsset({ kind: 'model', name: `Order to cash ${Date.now()}-${Math.random()}`, owner: 'owner1', workspace: '/Root' })).id;
  });

  it('registers an asset with a workspace path and an owner, errors beside the fields', async () => {
    const bad = await admin.post('/assets/new').type('form').send({ _csrf: admin.csrf, kind: 'spreadsheet', name: '', workspace: '/Root/Nowhere', owner: 'ghost' });
    expect(bad.status).toBe(422);
    const doc = $(bad.text);
    expect(doc('#e-kind').text()).toContain('Choose one');
    expect(doc('#e-name').text()).toContain('required');
    expect(doc('#e-workspace').text()).toContain('/Root/Nowhere');
    expect(doc('#e-owner').text()).toContain('ghost');
    expect(await t.db('assets').where({ name: '' }).first()).toBeUndefined();
    const ok = await admin.post('/assets/new').type('form').send({ _csrf: admin.csrf, kind: 'model', name: '<b>Order to cash</b>', workspace: '/Root', owner: 'OWNER1' });
    expect(ok.status).toBe(303);
    const registered = Number(ok.headers.location.split('/').pop());
    const detail = await admin.get(`/assets/${registered}`);
    expect(detail.text).toContain('&lt;b&gt;Order to cash&lt;/b&gt;');
    expect($(detail.text)('.hint').first().text()).toContain('owner1');
  });

  it('lists, searches and filters assets', async () => {
    await t.make.makeAsset({ kind: 'model', name: 'Quarterly close', owner: 'owner2', workspace: '/Root' });
    await t.make.makeAsset({ kind: 'log', name: 'Quarterly log', owner: 'owner1', workspace: '/Root' });
    const res = await admin.get('/assets').query({ q: 'quarterly', kind: 'model', owner: 'owner2' });
    expect($(res.text)('#asset-results tbody tr td:first-child').text()).toContain('Quarterly close');
    expect($(res.text)('#asset-results tbody tr').length).toBe(1);
    const none = await admin.get('/assets').query({ owner: 'nobody' });
    expect($(none.text)('.flash-error').text()).toContain('nobody');
    const wild = await admin.get('/assets').query({ q: '%' });
    expect($(wild.text)('#asset-results tbody tr').length).toBe(0);
  });

  it('shares with a group, changes the access, and stops sharing', async () => {
    const unknown = await admin.post(`/assets/${assetId}/shares`).type('form').send({ _csrf: admin.csrf, group: 'Nope', access: 'viewer' });
    expect(unknown.status).toBe(422);
    expect($(unknown.text)('#e-group').text()).toContain('Nope');
    await admin.post(`/assets/${assetId}/shares`).type('form').send({ _csrf: admin.csrf, group: 'sales', access: 'viewer' });
    await admin.post(`/assets/${assetId}/shares`).type('form').send({ _csrf: admin.csrf, group: 'Sales', access: 'editor' });
    const shares = await t.db('asset_shares').where({ asset_id: assetId });
    expect(shares).toHaveLength(1);
    expect(shares[0].access).toBe('editor');
    const gid = shares[0].group_id;
    const res = await admin.post(`/assets/${assetId}/shares/${gid}/delete`).type('form').send({ _csrf: admin.csrf });
    expect(res.status).toBe(303);
    expect(await t.db('asset_shares').where({ asset_id: assetId }).first()).toBeUndefined();
  });

  it('transfers ownership and refuses a transfer to the current owner', async () => {
    const same = await admin.post(`/assets/${assetId}/transfer`).type('form').send({ _csrf: admin.csrf, owner: 'owner1' });
    expect(same.status).toBe(422);
    expect($(same.text)('#e-owner').text()).toContain('already owns');
    const res = await admin.post(`/assets/${assetId}/transfer`).type('form').send({ _csrf: admin.csrf, owner: 'owner2' });
    expect(res.status).toBe(303);
    expect((await t.db('assets').where({ id: assetId }).first()).owner_id).toBe((await t.db('users').where({ username_lower: 'owner2' }).first('id')).id);
    expect(await t.db('audit_events').where({ action: 'asset.transfer', object_id: String(assetId) }).first()).toBeTruthy();
  });

  it('removes an asset after a confirmation', async () => {
    const confirm = await admin.get(`/assets/${assetId}/delete`);
    expect($(confirm.text)('.confirm').text()).toContain('cannot be undone');
    const res = await admin.post(`/assets/${assetId}/delete`).type('form').send({ _csrf: admin.csrf });
    expect(res.status).toBe(303);
    expect(await t.db('assets').where({ id: assetId }).first()).toBeUndefined();
    expect((await admin.get(`/assets/${assetId}`)).status).toBe(404);
  });
});

describe('assets API', () => {
  const api = (method: 'get' | 'post' | 'patch' | 'put' | 'delete', url: string, body?: object) => {
    const r = request(t.server)[method](url).set('Authorization', `Bearer ${token}`);
    return body ? r.send(body) : r;
  };

  it('registers, shares, transfers and deletes through the API', async () => {
    const created = await api('post', '/api/v1/assets', { kind: 'log', name: 'Claims 2026', workspace: '/Root', owner: 'owner1' });
    expect(created.status).toBe(201);
    expect(created.body.workspace).toBe('/Root');
    const id = created.body.id;
    const shared = await api('put', `/api/v1/assets/${id}/shares`, { group: 'Sales', access: 'owner' });
    expect(shared.body.shares).toEqual([{ group: 'Sales', access: 'owner' }]);
    const moved = await api('post', `/api/v1/assets/${id}/transfer`, { to: 'owner2' });
    expect(moved.body.owner).toBe('owner2');
    const renamed = await api('patch', `/api/v1/assets/${id}`, { name: 'Claims 2027', workspace: rootId });
    expect(renamed.body.name).toBe('Claims 2027');
    const listed = await api('get', '/api/v1/assets?owner=owner2&kind=log&q=claims');
    expect(listed.body.items.map((a: { name: string }) => a.name)).toEqual(['Claims 2027']);
    expect((await api('delete', `/api/v1/assets/${id}/shares/Sales`)).body.shares).toEqual([]);
    expect((await api('delete', `/api/v1/assets/${id}`)).status).toBe(200);
    expect((await api('get', `/api/v1/assets/${id}`)).status).toBe(404);
  });

  it('answers bad input with JSON errors naming the field', async () => {
    const unknownField = await api('post', '/api/v1/assets', { kind: 'log', name: 'x', workspace: '/Root', owner: 'owner1', secret: 1 });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error.details.fields.secret).toBeDefined();
    const badKind = await api('post', '/api/v1/assets', { kind: 'virus', name: 'x', workspace: '/Root', owner: 'owner1' });
    expect(badKind.status).toBe(422);
    expect(badKind.body.error.details.fields.kind).toBeDefined();
    const badWs = await api('post', '/api/v1/assets', { kind: 'log', name: 'x', workspace: '/Elsewhere', owner: 'owner1' });
    expect(badWs.status).toBe(422);
    expect(badWs.body.error.details.fields.workspace).toContain('/Elsewhere');
  });
});

describe('audit API', () => {
  it('pages the trail newest first with a cursor and filters by action', async () => {
    for (const name of ['Audit one', 'Audit two', 'Audit three']) await t.make.makeAsset({ kind: 'log', name, owner: 'owner1', workspace: '/Root' });
    const first = await request(t.server).get('/api/v1/audit?limit=2').set('Authorization', `Bearer ${token}`);
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(2);
    expect(first.body.items[0].id).toBeGreaterThan(first.body.items[1].id);
    const next = await request(t.server).get(`/api/v1/audit?limit=2&cursor=${first.body.nextCursor}`).set('Authorization', `Bearer ${token}`);
    expect(next.body.items[0].id).toBeLessThan(first.body.items[1].id);
    const filtered = await request(t.server).get('/api/v1/audit?action=asset.create').set('Authorization', `Bearer ${token}`);
    expect(filtered.body.items.every((e: { action: string }) => e.action === 'asset.create')).toBe(true);
    const bad = await request(t.server).get('/api/v1/audit?cursor=abc&color=red').set('Authorization', `Bearer ${token}`);
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.error.details.fields)).toEqual(expect.arrayContaining(['cursor', 'color']));
  });
});
