import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Koa from 'koa';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { $, createTestApp, csrfFrom, type TestApp } from '../support/app';
import { OpenApiMismatch, recordApiResponses, ResponseValidator, responseValidator, apiCheckStats } from '../support/openapi';
import { OPERATIONS, openApiDocument, toOpenApiPath } from '../../src/api/openapi';
import type { Schema } from '../../src/api/openapi/schema';
import { ROOT_DIR } from '../../src/paths';

let t: TestApp;
let adminToken: string;
const doc = openApiDocument();

const operationsOf = (d = doc) =>
  Object.entries(d.paths).flatMap(([p, item]) => Object.entries(item).map(([method, op]) => ({ key: `${method.toUpperCase()} ${p}`, path: p, method, op: op as Record<string, any> })));

beforeAll(async () => {
  // The sweeps below send thousands of requests with one token: lift the per-token rate limit.
  t = await createTestApp({ apiRateLimitPerMinute: 1_000_000 });
  await t.makeUser({ username: 'admin', role: 'superuser' });
  await t.makeUser({ username: 'viewer', role: 'viewer' });
  adminToken = await t.token('admin');
});
afterAll(async () => t?.close());

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc) as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('compiles every schema with Ajv (JSON Schema 2020-12, strict mode)', () => {
    expect(new ResponseValidator(doc).compileAll()).toBeGreaterThan(150);
  });

  it('names the product, its version, the server and the token scheme', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT_DIR, 'package.json'), 'utf8'));
    expect(doc.info.title).toBe('Gatehouse');
    expect(doc.info.version).toBe(pkg.version);
    expect(doc.servers).toEqual([{ url: '/api/v1', description: expect.any(String) }]);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
  });

  it('describes exactly the routes of the router, with the same permission (both directions)', () => {
    const apiRoutes = t.gate.routes.filter((r) => r.api);
    const routed = new Map(apiRoutes.map((r) => [`${r.method} ${toOpenApiPath(r.path)}`, r]));
    const documented = new Map(operationsOf().map((o) => [o.key, o.op]));
    expect([...routed.keys()].filter((k) => !documented.has(k)), 'routes missing from the document').toEqual([]);
    expect([...documented.keys()].filter((k) => !routed.has(k)), 'documented operations no route serves').toEqual([]);
    for (const [key, route] of routed) {
      expect(documented.get(key)!['x-requires'], key).toEqual(route.requires);
      expect(documented.get(key)!.security, key).toEqual(route.requires.kind === 'public' ? [] : undefined);
    }
    expect(routed.size).toBe(Object.keys(OPERATIONS).length);
    expect(Object.keys(OPERATIONS).sort()).toEqual([...documented.keys()].sort());
  });

  it('gives every operation a unique id, a tag, words, its path parameters and its error statuses', () => {
    const ids = new Set<string>();
    const tags = new Set(doc.tags.map((x) => x.name));
    for (const { key, path: p, op } of operationsOf()) {
      expect(ids.has(op.operationId), key).toBe(false);
      ids.add(op.operationId);
      expect(tags.has(op.tags[0]), key).toBe(true);
      expect(op.summary.length, key).toBeGreaterThan(3);
      expect(op.description.length, key).toBeGreaterThan(20);
      const inPath = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? []).filter((x: { in: string }) => x.in === 'path').map((x: { name: string }) => x.name).sort();
      expect(declared, key).toEqual(inPath);
      const statuses = Object.keys(op.responses);
      expect(statuses.some((s) => s.startsWith('2')), key).toBe(true);
      if (op['x-requires'].kind !== 'public') for (const s of ['401', '403', '429']) expect(statuses, key).toContain(s);
      if (op.requestBody) for (const s of ['400', '413']) expect(statuses, key).toContain(s);
      if (inPath.length) expect(statuses, `${key} answers 404 for an unknown ${inPath.join('/')}`).toContain('404');
      for (const [status, r] of Object.entries(op.responses as Record<string, { content?: Record<string, { schema: Schema }>; headers?: Record<string, unknown> }>)) {
        if (Number(status) >= 400) expect(r.content?.['application/json'].schema, `${key} ${status}`).toEqual({ $ref: '#/components/schemas/Error' });
        // A created object's URL comes back in Location (a group relation has no URL of its own).
        if (status === '201' && key !== 'POST /group-relations') expect(Object.keys(r.headers ?? {}), `${key} 201`).toContain('Location');
      }
      if (op.responses['429']) expect(Object.keys(op.responses['429'].headers), key).toContain('Retry-After');
    }
  });

  it('documents request bodies that refuse unknown fields, with examples that match them', () => {
    const v = new ResponseValidator(doc);
    for (const { key, path: p, method, op } of operationsOf()) {
      if (!op.requestBody) continue;
      const media = op.requestBody.content['application/json'];
      const schema: Schema = media.schema.$ref ? doc.components.schemas[media.schema.$ref.split('/').pop()] : media.schema;
      expect(schema.additionalProperties, key).toBe(false);
      const pointer = `openapi.json#/paths/${p.replace(/\//g, '~1')}/${method}/requestBody/content/application~1json/schema`;
      const fn = v.ajv.getSchema(pointer)!;
      expect(fn(media.example), `${key} example: ${JSON.stringify(fn.errors)}`).toBe(true);
    }
  });
});

describe('GET /api/v1/openapi.json', () => {
  it('serves the document without a token, as JSON', async () => {
    const res = await request(t.server).get('/api/v1/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('application/json');
    expect(res.body).toEqual(JSON.parse(JSON.stringify(doc)));
  });

  it('is also served to a valid token', async () => {
    const res = await request(t.server).get('/api/v1/openapi.json').set('Authorization', `Bearer ${adminToken}`);
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
  });
});

/** Concrete values for path parameters: objects that exist (made by the first beforeAll below). */
let values: Record<string, Record<string, string>>;

function concrete(p: string): string {
  const v = values[p.split('/')[1]] ?? values.other;
  return p.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(v[name]));
}

describe('the API follows its own rules', () => {

  beforeAll(async () => {
    const api = (method: 'post' | 'put', url: string, body: object) => request(t.server)[method](`/api/v1${url}`).set('Authorization', `Bearer ${adminToken}`).send(body);
    await t.makeUser({ username: 'sweeper', role: 'analyst' });
    expect((await api('post', '/groups', { name: 'Sweep Group' })).status).toBe(201);
    const role = await api('post', '/roles', { name: 'Sweep Role', template: 'analyst' });
    const ws = await api('post', '/workspaces', { name: 'Sweep' });
    const perm = await api('post', '/groups/Sweep%20Group/permissions', { effect: 'allow', domain: 'Files', workspace: '/Root/Sweep', operations: 'R' });
    const asset = await api('post', '/assets', { kind: 'log', name: 'Sweep log', owner: 'sweeper', workspace: '/Root/Sweep' });
    for (const r of [role, ws, perm, asset]) expect(r.status, JSON.stringify(r.body)).toBe(201);
    const common = { username: 'sweeper', name: 'Sweep Group', key: 'process_modeler', group: 'Sweep Group' };
    values = {
      roles: { ...common, id: String(role.body.id) },
      workspaces: { ...common, id: String(ws.body.id) },
      permissions: { ...common, id: String(perm.body.id) },
      assets: { ...common, id: String(asset.body.id) },
      other: common,
    };
  });

  it('refuses an unknown field in every request body with 400 naming it, and writes nothing', async () => {
    const before = await t.db('audit_events').count({ n: '*' }).first();
    let checked = 0;
    for (const { key, path: p, method, op } of operationsOf()) {
      if (!op.requestBody) continue;
      const example = op.requestBody.content['application/json'].example;
      const res = await request(t.server)
        [method as 'post'](`/api/v1${concrete(p)}`)
        .set('Authorization', `Bearer ${adminToken}`)
        .send({ ...example, sneaky_field: '<script>x</script>' });
      expect(res.status, `${key}: ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.error.details.fields, key).toHaveProperty('sneaky_field');
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
    const after = await t.db('audit_events').count({ n: '*' }).first();
    expect(Number(after!.n)).toBe(Number(before!.n));
  });

  it('refuses a field sent to an action that takes none', async () => {
    const actions = operationsOf().filter((o) => o.method === 'post' && !o.op.requestBody);
    expect(actions.length).toBeGreaterThan(3);
    for (const { key, path: p, method } of actions) {
      const res = await request(t.server)[method as 'post'](`/api/v1${concrete(p)}`).set('Authorization', `Bearer ${adminToken}`).send({ reason: 'left the company' });
      expect(res.status, key).toBe(400);
      expect(res.body.error.details.fields, key).toHaveProperty('reason');
    }
    const sweeper = await request(t.server).get('/api/v1/users/sweeper').set('Authorization', `Bearer ${adminToken}`);
    expect(sweeper.body.status).toBe('active');
  });

  it('refuses an unknown query parameter on every operation that takes query parameters', async () => {
    let checked = 0;
    for (const { key, path: p, method, op } of operationsOf()) {
      const query = (op.parameters ?? []).filter((x: { in: string }) => x.in === 'query');
      if (!query.length) continue;
      const res = await request(t.server)
        [method as 'get'](`/api/v1${concrete(p)}?sneaky=1`)
        .set('Authorization', `Bearer ${adminToken}`);
      expect(res.status, `${key}: ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.error.details.fields, key).toHaveProperty('sneaky');
      checked++;
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('answers malformed JSON with 400 and an error body on every operation with a body', async () => {
    for (const { key, path: p, method, op } of operationsOf()) {
      if (!op.requestBody) continue;
      const res = await request(t.server)
        [method as 'post'](`/api/v1${concrete(p)}`)
        .set('Authorization', `Bearer ${adminToken}`)
        .set('Content-Type', 'application/json')
        .send('{"oops": ');
      expect(res.status, key).toBe(400);
      expect(res.body.error.code, key).toBe('malformed_body');
    }
  });

  it('answers 404 with an error body for unknown ids and names in paths', async () => {
    for (const { key, path: p, method, op } of operationsOf()) {
      if (!p.includes('{')) continue;
      const url = p.replace(/\{([^}]+)\}/g, (_, name: string) => (name === 'id' ? '999999' : name === 'key' ? 'no_such_key' : 'no-such-thing'));
      const example = op.requestBody?.content['application/json'].example;
      const res = await request(t.server)[method as 'post'](`/api/v1${url}`).set('Authorization', `Bearer ${adminToken}`).send(example ?? {});
      expect(res.status, `${key}: ${JSON.stringify(res.body)}`).toBe(404);
      expect(res.body.error.code, key).toMatch(/not_found/);
    }
  });
});

describe('the response check of the test suite', () => {
  const v = new ResponseValidator(doc);
  const user = {
    id: 1,
    username: 'jane',
    firstName: 'Jane',
    lastName: 'Doe',
    email: 'jane@example.com',
    role: { id: 2, name: 'Analyst' },
    license: { id: 1, key: 'process_modeler', name: 'Process Modeler' },
    status: 'active',
    locked: false,
    lockedUntil: null,
    source: 'local',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    lastLoginAt: null,
    lastActivityAt: null,
    version: 1,
  };

  it('accepts a response the document describes', () => {
    expect(() => v.check({ method: 'GET', path: '/users/jane', status: 200, body: user })).not.toThrow();
    expect(() => v.check({ method: 'GET', path: '/users/jane', status: 404, body: { error: { code: 'not_found', message: 'User not found.', details: null } } })).not.toThrow();
  });

  it('catches a wrong body: a wrong type, a missing field, a field the document does not know', () => {
    expect(() => v.check({ method: 'GET', path: '/users/jane', status: 200, body: { ...user, version: '1' } })).toThrow(/\/version must be integer/);
    const { email: _drop, ...noEmail } = user;
    expect(() => v.check({ method: 'GET', path: '/users/jane', status: 200, body: noEmail })).toThrow(/must have required property 'email'/);
    expect(() => v.check({ method: 'GET', path: '/users/jane', status: 200, body: { ...user, passwordHash: 'x' } })).toThrow(OpenApiMismatch);
    expect(() => v.check({ method: 'GET', path: '/users/jane', status: 404, body: { message: 'nope' } })).toThrow(/does not match/);
  });

  it('catches an undocumented status, a 500, a missing header and an undocumented operation', () => {
    expect(() => v.check({ method: 'GET', path: '/users/jane', status: 418, body: {} })).toThrow(/status 418 is not documented for GET \/users\/\{username\}/);
    expect(() => v.check({ method: 'GET', path: '/users', status: 500, body: { error: { code: 'internal_error', message: 'x', details: null } } })).toThrow(/status 500 is not documented/);
    expect(() => v.check({ method: 'POST', path: '/users', status: 201, body: user, headers: {} })).toThrow(/header Location is missing/);
    expect(() => v.check({ method: 'GET', path: '/secret-admin', status: 200, body: {} })).toThrow(/no operation GET \/secret-admin/);
    expect(() => v.check({ method: 'GET', path: '/nothing-here', status: 404, body: { error: { code: 'not_found', message: 'x', details: null } } })).not.toThrow();
  });

  it('picks the most specific path: PUT /roles/default is not PATCH /roles/{id}', () => {
    expect(v.match('PUT', '/roles/default')?.template).toBe('/roles/default');
    expect(v.match('GET', '/roles/12')?.template).toBe('/roles/{id}');
    expect(v.match('GET', '/users/jane/approvers')?.template).toBe('/users/{username}/approvers');
  });

  it('is installed in every test app: it sees real responses and reports a contradiction', async () => {
    const seen = apiCheckStats.checked;
    const res = await request(t.server).get('/api/v1/users/admin').set('Authorization', `Bearer ${adminToken}`);
    expect(res.status).toBe(200);
    expect(apiCheckStats.checked).toBe(seen + 1);
    expect(responseValidator().doc).toBe(doc);

    // The same middleware in front of an app that answers what the document does not say.
    const messages: string[] = [];
    const app = new Koa();
    app.use(recordApiResponses(() => v, (m) => messages.push(m)));
    app.use((ctx) => {
      ctx.body = { ...user, version: 'one' };
    });
    await request(app.callback()).get('/api/v1/users/jane');
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/GET \/api\/v1\/users\/jane → 200: the body does not match/);
  });

  it('fails a test whose own assertions pass when a response contradicts the document', () => {
    // Runs a fixture test in its own Vitest: it breaks the document's User schema and makes a request.
    const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/fixtures/vitest.fixture.config.ts'], {
      cwd: ROOT_DIR,
      encoding: 'utf8',
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      timeout: 120_000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    expect(r.status, out).not.toBe(0);
    expect(out).toContain('not matching the OpenAPI document');
    expect(out).toMatch(/GET \/api\/v1\/users\/admin → 200: the body does not match/);
    expect(out).toMatch(/1 failed/);
  });
});

describe('the API reference page', () => {
  it('refuses anonymous visitors', async () => {
    const anon = await t.anonymous();
    const res = await anon.get('/api-docs');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/login');
  });

  it('renders every operation with its method, path, permission, responses and a curl example', async () => {
    const viewer = await t.signIn('viewer');
    const res = await viewer.get('/api-docs');
    expect(res.status).toBe(200);
    const page = $(res.text);
    expect(page('h1').text()).toBe('API reference');
    const ops = operationsOf();
    expect(page('article.api-op')).toHaveLength(ops.length);
    for (const { key, op } of ops) {
      const el = page(`#op-${op.operationId}`);
      expect(el.length, key).toBe(1);
      expect(el.find('.api-op-title').text().replace(/\s+/g, ' '), key).toContain(key);
      expect(el.find('.api-permission').text(), key).toMatch(/Permission needed:/);
      expect(el.find('.api-responses tbody tr').length, key).toBe(Object.keys(op.responses).length);
      expect(el.find('pre.api-example').text(), key).toMatch(/^curl -X [A-Z]+ 'http/);
      // The table of contents links to it.
      expect(page(`.api-toc a[href="#op-${op.operationId}"]`).length, key).toBe(1);
    }
    // A body's fields and constraints, and the schemas the responses link to.
    const create = page('#op-createUser');
    expect(create.find('.api-fields').first().text()).toContain('username');
    expect(create.text()).toContain('2–64 characters');
    expect(create.find('pre.api-example').text()).toContain(`-d '{"username":"jane.doe"`);
    expect(page('#op-setLicenseSeats .api-permission').text()).toContain('Superuser');
    expect(page('#op-listAuditEvents .api-permission').text()).toContain('users.manage');
    for (const name of Object.keys(doc.components.schemas)) expect(page(`#schema-${name}`).length, name).toBe(1);
    for (const href of page('a[href^="#schema-"]').map((_, a) => page(a).attr('href')).get()) expect(page(href).length, href).toBe(1);
    expect(page('a[href="/api/v1/openapi.json"]').length).toBeGreaterThan(0);
    expect(res.text).not.toMatch(/<script(?![^>]*src=)/);
  });

  it('is linked from the top bar and from the API tokens section of My account', async () => {
    const viewer = await t.signIn('viewer');
    expect($((await viewer.get('/account')).text)('.topbar a[href="/api-docs"]').text()).toBe('API reference');
    // The token section shows to users whose role includes "Access API".
    const admin = await t.signIn('admin');
    const account = $((await admin.get('/account')).text);
    expect(account('.topbar a[href="/api-docs"]').text()).toBe('API reference');
    expect(account('#tokens a[href="/api-docs"]').length).toBe(1);
  });
});

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
    expect(batch.results[1].error.status).toBe(404);
    const grid = await ok(call('get', `/users/ann.org/effective-permissions?workspace=${encodeURIComponent('/Root/Org/Sales EMEA')}`));
    expect(grid.domains.find((d: { key: string }) => d.key === 'processes').allowed).toBe('RMC');

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
    const maxId = (await t.db('users').where({ username_lower: 'max.org' }).first('id')).id;
    await t.db('totp_factors').insert({ user_id: maxId, secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', last_used_step: 0, created_at: Date.now() });
    const signInState = await ok(call('get', '/users/max.org/sign-in'));
    expect(signInState.secondFactor.totp).toBe(true);
    expect((await ok(call('delete', `/users/max.org/sessions/${signInState.sessions[0].id}`))).ended).toBe(signInState.sessions[0].id);
    expect((await ok(call('delete', '/users/max.org/second-factor'))).removed.totp).toBe(true);

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
    expect(Object.keys(OPERATIONS).filter((k) => !succeeded.has(k))).toEqual([]);
  });

  it('documents the refusals a client meets: removing yourself, a stale ETag, emptying the default role', async () => {
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

  it('documents the 413 of an oversized body and the 429 of a busy token', async () => {
    const big = await call('post', '/groups', { name: 'Big', description: 'x'.repeat(3 * 1024 * 1024) });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('too_large');
    const busy = await createTestApp({ apiRateLimitPerMinute: 2 });
    try {
      await busy.makeUser({ username: 'busy', role: 'superuser' });
      const token = await busy.token('busy');
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await request(busy.server).get('/api/v1/licenses').set('Authorization', `Bearer ${token}`)).status);
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await busy.close();
    }
  });

  it('describes what a token sent to the public document gets', async () => {
    // The document needs no token; a token that is sent is still checked.
    const viewerToken = await t.token('viewer');
    expect((await request(t.server).get('/api/v1/openapi.json').set('Authorization', `Bearer ${viewerToken}`)).status).toBe(403);
    expect((await request(t.server).get('/api/v1/openapi.json').set('Authorization', 'Bearer not-a-token')).status).toBe(401);
  });
});

describe('hostile input in every field, parameter and path of every operation', () => {
  // Whatever comes back must be a documented status with a documented body (checked by the response
  // recorder of createTestApp), never a 500. Runs last: some payloads are valid and change data.
  const HOSTILE: unknown[] = [
    '',
    '   ',
    'x'.repeat(5000),
    '<script>alert(1)</script>',
    "' OR 1=1 --",
    'Robert\"); DROP TABLE users;--',
    '\u0000nul',
    '👩‍💻 ünïcødé ﷽',
    '../../etc/passwd',
    -1,
    0,
    1.5,
    2 ** 31,
    1e300,
    true,
    null,
    [],
    {},
    ['a', 1],
    { nested: { deep: true } },
  ];
  const PATH_HOSTILE = ['%00', 'x'.repeat(3000), '%3Cscript%3E', "'%20OR%201=1", '..%2F..', '%F0%9F%91%A9', '-1', '0', '1e9', '99999999999999999999'];

  it('never answers 500 or an undocumented response to hostile JSON fields', async () => {
    let sent = 0;
    for (const { key, path: p, method, op } of operationsOf()) {
      if (!op.requestBody) continue;
      const media = op.requestBody.content['application/json'];
      const schema: Schema = media.schema.$ref ? doc.components.schemas[media.schema.$ref.split('/').pop()] : media.schema;
      for (const field of Object.keys(schema.properties ?? {})) {
        for (const value of HOSTILE) {
          const res = await request(t.server)
            [method as 'post'](`/api/v1${concrete(p)}`)
            .set('Authorization', `Bearer ${adminToken}`)
            .send({ ...media.example, [field]: value });
          expect(res.status, `${key} ${field}=${JSON.stringify(value).slice(0, 40)}: ${JSON.stringify(res.body).slice(0, 300)}`).toBeLessThan(500);
          sent++;
        }
      }
      // Not an object at all.
      for (const body of ['[1,2]', '"text"', '42', 'null']) {
        const res = await request(t.server)[method as 'post'](`/api/v1${concrete(p)}`).set('Authorization', `Bearer ${adminToken}`).set('Content-Type', 'application/json').send(body);
        expect(res.status, `${key} body ${body}`).toBe(400);
      }
    }
    expect(sent).toBeGreaterThan(500);
  });

  it('never answers 500 or an undocumented response to hostile query parameters', async () => {
    for (const { key, path: p, method, op } of operationsOf()) {
      for (const param of (op.parameters ?? []).filter((x: { in: string }) => x.in === 'query')) {
        for (const value of HOSTILE) {
          if (typeof value === 'object' && value !== null) continue;
          const qs = `${param.name}=${encodeURIComponent(String(value))}`;
          const res = await request(t.server)[method as 'get'](`/api/v1${concrete(p)}?${qs}`).set('Authorization', `Bearer ${adminToken}`);
          expect(res.status, `${key}?${qs.slice(0, 60)}: ${JSON.stringify(res.body).slice(0, 300)}`).toBeLessThan(500);
        }
        // Repeated parameter (arrives as a list).
        const res = await request(t.server)[method as 'get'](`/api/v1${concrete(p)}?${param.name}=1&${param.name}=2`).set('Authorization', `Bearer ${adminToken}`);
        expect(res.status, `${key} repeated ${param.name}`).toBeLessThan(500);
      }
    }
  });

  it('never answers 500 or an undocumented response to hostile path segments', async () => {
    for (const { key, path: p, method, op } of operationsOf()) {
      if (!p.includes('{')) continue;
      for (const value of PATH_HOSTILE) {
        const url = p.replace(/\{[^}]+\}/g, value);
        const res = await request(t.server)[method as 'get'](`/api/v1${url}`).set('Authorization', `Bearer ${adminToken}`).send(op.requestBody?.content['application/json'].example ?? {});
        expect(res.status, `${key} with ${value.slice(0, 30)}: ${JSON.stringify(res.body).slice(0, 300)}`).toBeLessThan(500);
        expect(res.body.error ?? res.body, key).toBeTruthy();
      }
    }
  });
});
