import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import * as cheerio from 'cheerio';
import { createTestApp, type Agent, type TestApp } from '../support/app';
import { unique } from '../support/factories';
import { headPosition } from '../../src/changes/service';
import { P } from '../../src/permissions/catalog';

/**
 * Issue 11: the domain catalog a Superuser extends (console and API), and the optional unique external key
 * of a workspace — the two model extensions AuthZEN clients need to name their own objects.
 */
let t: TestApp;
let su: Agent;
let rootToken: string;
let adminToken: string;

const api = (method: 'get' | 'post' | 'patch' | 'delete', url: string, token = rootToken) => request(t.server)[method](`/api/v1${url}`).set('Authorization', `Bearer ${token}`);
/** A domain key no other test uses ("a" first: keys start with a letter). */
const freshKey = (stem: string) => unique(`a${stem}`).toLowerCase().replace(/[^a-z0-9_.-]/g, '-');

beforeAll(async () => {
  t = await createTestApp({ apiRateLimitPerMinute: 1_000_000 });
  await t.makeUser({ username: 'root', role: 'superuser' });
  await t.makeUser({ username: 'adm', role: 'administrator' });
  await t.make.makeRole('Access manager with API', { permissions: [P.accessManage, P.apiAccess] });
  await t.makeUser({ username: 'api-adm', role: 'Access manager with API' });
  su = await t.signIn('root');
  rootToken = await t.token('root');
  adminToken = await t.token('api-adm');
});
afterAll(async () => t?.close());

describe('domains in the console', () => {
  it('lists the built-in domains read-only and adds a domain from the form, with a message per bad field', async () => {
    const list = cheerio.load((await su.get('/domains')).text);
    expect(list('#domain-processes').text()).toContain('Built-in');
    expect(list('#domain-processes a').length).toBe(0);

    const bad = await su.post('/domains/new').type('form').send({ _csrf: su.csrf, name: '', key: '9 Bad Key' });
    expect(bad.status).toBe(422);
    const form = cheerio.load(bad.text);
    expect(form('#e-name').text()).not.toBe('');
    expect(form('#e-key').text()).toContain('start with a letter');

    const key = freshKey('crm');
    const ok = await su.post('/domains/new').type('form').send({ _csrf: su.csrf, name: `CRM ${key}`, key, usesLevels: 'on' });
    expect(ok.status, ok.text).toBe(303);
    const after = cheerio.load((await su.get('/domains')).text);
    expect(after(`#domain-${key}`).text()).toContain('Yes (0–9)');
  });

  it('refuses a key or name that another domain answers to, ignoring case', async () => {
    const clash = await su.post('/domains/new').type('form').send({ _csrf: su.csrf, name: 'PROCESSES', key: 'files' });
    expect(clash.status).toBe(422);
    const form = cheerio.load(clash.text);
    expect(form('#e-name').text()).toContain('Another domain');
    expect(form('#e-key').text()).toContain('Another domain');
  });

  it('edits and removes a domain of its own; a domain in use is not removed', async () => {
    const d = await t.make.makeDomain({ key: freshKey('tickets'), name: unique('Tickets') });
    const saved = await su.post(`/domains/${d.id}`).type('form').send({ _csrf: su.csrf, name: `${d.name} v2`, key: d.key });
    expect(saved.status, saved.text).toBe(303);
    expect((await api('get', `/domains/${d.key}`)).body).toMatchObject({ name: `${d.name} v2`, usesLevels: false, builtIn: false });

    const group = unique('Ticket desk');
    await t.make.makeGroup(group);
    const permission = await t.make.grant(group, { domain: d.key, workspace: '/Root', operations: 'R' });
    const refused = await su.post(`/domains/${d.id}/delete`).type('form').send({ _csrf: su.csrf });
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('cannot be removed while a domain permission is granted');

    await api('delete', `/permissions/${permission.id}`).expect(200);
    expect((await su.post(`/domains/${d.id}/delete`).type('form').send({ _csrf: su.csrf })).status).toBe(303);
    expect((await api('get', `/domains/${d.key}`)).status).toBe(404);
  });

  it('is for Superusers only', async () => {
    const admin = await t.signIn('adm');
    expect((await admin.get('/domains')).status).toBe(403);
    expect((await admin.post('/domains/new').type('form').send({ _csrf: admin.csrf, name: 'Nope', key: 'nope' })).status).toBe(403);
  });
});

describe('domains over the API', () => {
  it('adds a domain that decisions know at once, with caps from the license table', async () => {
    const key = freshKey('records');
    const before = await headPosition(t.db);
    const res = await api('post', '/domains').send({ key, name: unique('Records') });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.headers.location).toBe(`/api/v1/domains/${key}`);
    expect(await headPosition(t.db)).toBeGreaterThan(before);

    const modeler = unique('modeler');
    const viewer = unique('viewer');
    const group = unique('Record keepers');
    await t.makeUser({ username: modeler, license: 'process_modeler' });
    await t.makeUser({ username: viewer, role: 'viewer', license: 'process_viewer' });
    await t.make.makeGroup(group, [modeler, viewer]);
    await t.make.grant(group, { domain: key, workspace: '/Root', operations: 'RM' });
    const modelerCheck = await api('post', '/check').send({ user: modeler, domain: key, operation: 'M', workspace: '/Root' });
    expect(modelerCheck.body).toMatchObject({ allowed: true, reason: 'rule' });
    // A Process viewer's license includes nothing in a domain added later.
    const viewerCheck = await api('post', '/check').send({ user: viewer, domain: key, operation: 'R', workspace: '/Root' });
    expect(viewerCheck.body).toMatchObject({ allowed: false, reason: 'license' });
  });

  it('keeps built-in domains as they are and refuses writes from anyone but a Superuser', async () => {
    expect((await api('patch', '/domains/processes').send({ name: 'Flows' })).status).toBe(409);
    expect((await api('delete', '/domains/files')).status).toBe(409);
    expect((await api('post', '/domains', adminToken).send({ key: freshKey('x'), name: unique('X') })).status).toBe(403);
    const listed = await api('get', '/domains', adminToken);
    expect(listed.status).toBe(200);
    expect(listed.body.items.find((d: { key: string }) => d.key === 'processes')).toMatchObject({ builtIn: true, usesLevels: true });
  });

  it('writes one audit event per change', async () => {
    const key = freshKey('audit');
    await api('post', '/domains').send({ key, name: unique('Audited') }).expect(201);
    await api('patch', `/domains/${key}`).send({ usesLevels: true }).expect(200);
    await api('delete', `/domains/${key}`).expect(200);
    const actions = (await t.db('audit_events').where({ object_type: 'domain', object_id: key }).select('action')).map((r: { action: string }) => r.action);
    expect(actions.sort()).toEqual(['domain.create', 'domain.delete', 'domain.update']);
  });
});

describe('workspace external keys', () => {
  it('sets, shows, clears and refuses a taken external key (API and console)', async () => {
    const key = unique('record');
    const created = await api('post', '/workspaces').send({ name: unique('Rec'), externalKey: key });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.externalKey).toBe(key);

    const other = await api('post', '/workspaces').send({ name: unique('Rec') });
    expect(other.body.externalKey).toBeNull();
    const taken = await api('patch', `/workspaces/${other.body.id}`).send({ externalKey: key });
    expect(taken.status).toBe(422);
    expect(taken.body.error.details.fields.externalKey).toContain('already has the external key');
    // Case matters: another id of the suite.
    expect((await api('patch', `/workspaces/${other.body.id}`).send({ externalKey: key.toUpperCase() })).body.externalKey).toBe(key.toUpperCase());

    const panel = cheerio.load((await su.get(`/workspaces/${created.body.id}`)).text);
    expect(panel('#ws-panel .facts').text()).toContain(key);
    const formTaken = await su.post(`/workspaces/${other.body.id}/external-key`).type('form').send({ _csrf: su.csrf, externalKey: key });
    expect(formTaken.status).toBe(422);
    expect(cheerio.load(formTaken.text)('#e-externalKey').text()).toContain('already has the external key');
    expect((await su.post(`/workspaces/${created.body.id}/external-key`).type('form').send({ _csrf: su.csrf, externalKey: '' })).status).toBe(303);
    expect((await api('get', `/workspaces/${created.body.id}`)).body.externalKey).toBeNull();
  });
});

describe('uniqueness under parallel requests', () => {
  const PARALLEL = 20;

  it('adds a domain key once when 20 requests add it at the same moment', async () => {
    for (let round = 0; round < 3; round++) {
      const key = freshKey('race');
      const answers = await Promise.all(Array.from({ length: PARALLEL }, (_, i) => api('post', '/domains').send({ key, name: unique(`Race ${i}`) })));
      for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBeLessThan(500);
      expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
      for (const a of answers.filter((x) => x.status !== 201)) expect(a.body.error.details.fields.key).toBeTruthy();
      expect(Number((await t.db('domains').where({ key }).count({ n: '*' }).first())!.n)).toBe(1);
    }
  });

  it('gives an external key to one workspace when 20 requests claim it at the same moment', async () => {
    for (let round = 0; round < 3; round++) {
      const key = unique('contested');
      const answers = await Promise.all(Array.from({ length: PARALLEL }, () => api('post', '/workspaces').send({ name: unique('Claim'), externalKey: key })));
      for (const a of answers) expect(a.status, JSON.stringify(a.body)).toBeLessThan(500);
      expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
      for (const a of answers.filter((x) => x.status !== 201)) expect(a.body.error.details.fields.externalKey).toBeTruthy();
      expect(Number((await t.db('workspaces').where({ external_key: key }).count({ n: '*' }).first())!.n)).toBe(1);
    }
  });
});
