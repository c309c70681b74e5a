import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import { authzen, scenario, type Endpoint } from '../support/authzen';

/**
 * The AuthZEN Authorization API 1.0 certification scenario (openid/authzen,
 * certification/authorization-api-1_0-scenario.md; its expected data in
 * test/fixtures/authzen/authorization-api-1_0-scenario.json) at the levels Basic Core, Batch Core, Search
 * Core and Discovery. The fixture — users alice and bob, resources record-1 and record-2 of type record —
 * is loaded as ordinary Gatehouse data through the public API: the domain `record`, two workspaces with
 * those external keys, two groups with their permissions, two users.
 */
let t: TestApp;
let token: string;

const api = (method: 'get' | 'post' | 'patch', url: string) => request(t.server)[method](`/api/v1${url}`).set('Authorization', `Bearer ${token}`);

async function ok(res: request.Response, status = 201) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  return res.body;
}

beforeAll(async () => {
  t = await createTestApp({ apiRateLimitPerMinute: 1_000_000 });
  await t.makeUser({ username: 'pdp-admin', role: 'superuser' });
  token = await t.token('pdp-admin');

  // Resources of type `record` are workspaces of the domain `record`, named by their external keys.
  await ok(await api('post', '/domains').send({ key: 'record', name: 'Records' }));
  const records: Record<string, string> = {};
  for (const r of scenario.fixture.resources as Array<{ id: string }>) {
    records[r.id] = (await ok(await api('post', '/workspaces').send({ name: `Record ${r.id}`, externalKey: r.id }))).path;
  }
  for (const s of scenario.fixture.subjects as Array<{ id: string }>) {
    await ok(await api('post', '/users').send({ username: s.id, firstName: s.id, lastName: 'Fixture', email: `${s.id}@example.com`, password: 'a-long-fixture-passphrase', role: 'Analyst' }));
  }
  // Everyone in the fixture reads both records; only alice writes (modifies) record-1 (core rules 1–4).
  await ok(await api('post', '/groups').send({ name: 'Record readers' }));
  await ok(await api('post', '/groups').send({ name: 'Record writers' }));
  await ok(await api('post', '/groups/Record%20readers/members').send({ add: ['alice', 'bob'] }), 200);
  await ok(await api('post', '/groups/Record%20writers/members').send({ add: ['alice'] }), 200);
  for (const id of Object.keys(records)) {
    await ok(await api('post', '/groups/Record%20readers/permissions').send({ effect: 'allow', domain: 'record', workspace: records[id], operations: 'R' }));
  }
  await ok(await api('post', '/groups/Record%20writers/permissions').send({ effect: 'allow', domain: 'record', workspace: records['record-1'], operations: 'M' }));
});
afterAll(async () => t?.close());

/** The scenario's cases as [id, case] rows (the case's fields as the scenario file spells them). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const rows = (cases: Array<Record<string, any>>): Array<[string, Record<string, any>]> => cases.map((c) => [String(c.id), c]);

const call = (endpoint: Endpoint, body: unknown, valid?: boolean) => authzen(t, token, endpoint, body, { valid });

describe('the fixture', () => {
  it.each(scenario.fixture.core_rules as Array<{ subject: string; action: string; resource: string; decision: boolean }>)(
    'decides $subject $action $resource as $decision',
    async (r) => {
      const res = await call('evaluation', { subject: { type: 'user', id: r.subject }, action: { name: r.action }, resource: { type: 'record', id: r.resource } });
      expect(res.body.decision).toBe(r.decision);
    },
  );
});

describe('Basic Core', () => {
  it.each(rows(scenario.basic_core))('%s', async (_, c) => {
    const res = await call('evaluation', c.request);
    expect(res.status).toBe(c.status);
    expect(res.body.decision).toBe(c.decision);
  });

  it.each(rows(scenario.basic_errors))('%s: 400', async (_, c) => {
    const res = await call('evaluation', c.request, false);
    expect(res.status, JSON.stringify(res.body)).toBe(c.status);
  });

  it('c-2-4-3/4/5: another content type, malformed JSON and an empty body are 400', async () => {
    const send = () => request(t.server).post('/access/v1/evaluation').set('Authorization', `Bearer ${token}`);
    const valid = JSON.stringify(scenario.basic_core[0].request);
    expect((await send().set('Content-Type', 'text/plain').send(valid)).status).toBe(400);
    expect((await send().set('Content-Type', 'application/json').send('{"subject": ')).status).toBe(400);
    expect((await send().set('Content-Type', 'application/json').send('')).status).toBe(400);
    expect((await send().set('Content-Type', 'application/json')).status).toBe(400);
  });

  it('c-2-5: echoes X-Request-ID, and answers without one', async () => {
    const id = 'bfe9eb29-ab87-4ca3-be83-a1d5d8305716';
    const res = await authzen(t, token, 'evaluation', scenario.basic_core[0].request, { headers: { 'X-Request-ID': id } });
    expect(res.headers['x-request-id']).toBe(id);
    expect((await call('evaluation', scenario.basic_core[0].request)).status).toBe(200);
  });

  it('c-2-6: answers the same request the same way every time', async () => {
    const decisions = [];
    for (let i = 0; i < 5; i++) decisions.push((await call('evaluation', scenario.basic_core[1].request)).body.decision);
    expect(decisions).toEqual([false, false, false, false, false]);
  });
});

describe('Batch Core', () => {
  it.each(rows(scenario.batch_core))('%s', async (_, c) => {
    const res = await call('evaluations', c.request, false);
    expect(res.status, JSON.stringify(res.body)).toBe(c.status);
    if (c.decisions) expect(res.body.evaluations.map((e: { decision: boolean }) => e.decision)).toEqual(c.decisions);
    if (c.count) expect(res.body.evaluations).toHaveLength(c.count);
    if (c.decision !== undefined) {
      expect(res.body.decision).toBe(c.decision);
      expect(res.body.evaluations).toBeUndefined();
    }
  });

  it('c-3-4-1: the failed item says why in its context', async () => {
    const c = scenario.batch_core.find((x: { id: string }) => x.id === 'c-3-4-1');
    const res = await call('evaluations', c.request, false);
    expect(res.body.evaluations[1].context.error.status).toBe(400);
  });
});

describe('Search Core', () => {
  const ids = (body: { results: Array<{ id?: string; name?: string }> }) => body.results.map((r) => r.id ?? r.name).sort();

  it.each(rows(scenario.search_core))('%s', async (_, c) => {
    const res = await call(`search/${c.endpoint}` as Endpoint, c.request, false);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(Array.isArray(res.body.results)).toBe(true);
    if (c.empty) return expect(res.body.results).toEqual([]);
    for (const r of res.body.results) {
      if (c.endpoint === 'action') expect(typeof r.name).toBe('string');
      else expect(r.type).toBe(c.type);
    }
    expect(ids(res.body)).toEqual(expect.arrayContaining(c.includes));
    if (c.same_as) {
      const base = scenario.search_core.find((x: { id: string }) => x.id === c.same_as);
      expect(ids(res.body)).toEqual(ids((await call(`search/${base.endpoint}` as Endpoint, base.request, false)).body));
    }
  });

  it('c-4-5: pages with a limit and continues with the token to an empty next_token', async () => {
    const p = scenario.search_pagination;
    const first = await call('search/subject', p.first, false);
    expect(first.status).toBe(200);
    expect(first.body.results).toHaveLength(1);
    expect(first.body.page.next_token).toMatch(/.+/);
    const seen = [...first.body.results];
    let next = first.body.page.next_token as string;
    while (next) {
      const res = await call('search/subject', { ...p.next, page: { token: next } }, false);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(typeof res.body.page.next_token).toBe('string');
      seen.push(...res.body.results);
      next = res.body.page.next_token;
    }
    expect(seen.map((r: { id: string }) => r.id).sort()).toEqual(['alice', 'bob', 'pdp-admin'].filter((u) => u !== 'pdp-admin'));
  });

  it.each(rows(scenario.search_errors))('%s', async (_, c) => {
    const res = await call(`search/${c.endpoint}` as Endpoint, c.request, false);
    expect(res.status, JSON.stringify(res.body)).toBe(c.status);
  });
});

describe('Discovery', () => {
  it('c-6: serves the PDP metadata at the well-known address, with this server as the PDP', async () => {
    const res = await request(t.server).get(scenario.discovery.path);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('application/json');
    const base = t.config.baseUrl.replace(/\/+$/, '');
    expect(res.body.policy_decision_point).toBe(base);
    for (const k of scenario.discovery.required) expect(res.body[k]).toEqual(expect.any(String));
    expect(res.body.access_evaluation_endpoint).toBe(`${base}/access/v1/evaluation`);
    for (const k of scenario.discovery.optional_urls) expect(new URL(res.body[k]).origin).toBe(new URL(base).origin);
  });
});
