import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Koa from 'koa';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Validator } from '@seriousme/openapi-schema-validator';
import { $, createTestApp, type TestApp } from '../support/app';
import { OpenApiMismatch, recordApiResponses, ResponseValidator, responseValidator, apiCheckStats, servedDocument } from '../support/openapi';
import { call, concrete, documentedOperations, exampleOf, makePathObjects } from '../support/api';
import { toOpenApiPath, type Schema } from '../../src/api/openapi';
import { ROOT_DIR } from '../../src/paths';

let t: TestApp;
let adminToken: string;
const doc = servedDocument();
const operations = documentedOperations(doc);
/** Operations of a surface with a standard's input rules (AuthZEN): unknown fields ignored, every input problem a 400. */
const isLenient = (o: (typeof operations)[number]) => o.op['x-input'] === 'lenient';
const strict = operations.filter((o) => !isLenient(o));
const withBody = strict.filter((o) => o.op.requestBody);
const resolve = (s: Schema): Schema => (s.$ref ? doc.components.schemas[s.$ref.split('/').pop()!] : s);
const bodySchema = (o: (typeof operations)[number]): Schema => resolve(o.op.requestBody.content['application/json'].schema);
const auditCount = async () => Number((await t.db('audit_events').count({ n: '*' }).first())!.n);

beforeAll(async () => {
  // The sweeps below send many requests with one token: lift the per-token rate limit.
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
    expect(new ResponseValidator(doc).compileAll()).toBeGreaterThan(100);
  });

  it('names the product, its version, the server at its absolute address, and the token scheme', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT_DIR, 'package.json'), 'utf8'));
    const served = servedDocument('https://gatehouse.example.com/');
    expect(served.info.title).toBe('Gatehouse');
    expect(served.info.version).toBe(pkg.version);
    expect(served.servers).toEqual([{ url: 'https://gatehouse.example.com', description: expect.any(String) }]);
    expect(served.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(served.security).toEqual([{ bearerAuth: [] }]);
  });

  it('describes exactly the routes of the router, with the same permission (both directions)', () => {
    const apiRoutes = t.gate.routes.filter((r) => r.api);
    const routed = new Map(apiRoutes.map((r) => [`${r.method} ${r.prefix}${toOpenApiPath(r.path)}`, r]));
    const documented = new Map(operations.map((o) => [o.key, o.op]));
    expect([...routed.keys()].filter((k) => !documented.has(k)), 'routes missing from the document').toEqual([]);
    expect([...documented.keys()].filter((k) => !routed.has(k)), 'documented operations no route serves').toEqual([]);
    for (const [key, route] of routed) {
      expect(documented.get(key)!['x-requires'], key).toEqual(route.requires);
      expect(documented.get(key)!.security, key).toEqual(route.requires.kind === 'public' ? [] : undefined);
    }
  });

  it('gives every operation a unique id', () => {
    const ids = operations.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each(operations.map((o) => [o.key, o] as const))('%s: has a tag, words, its path parameters, and its error responses', (key, { path: p, method, op }) => {
    expect(doc.tags.map((x) => x.name), key).toContain(op.tags[0]);
    expect(op.summary.length, key).toBeGreaterThan(3);
    expect(op.description.length, key).toBeGreaterThan(20);
    const inPath = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    const declared = (op.parameters ?? []).filter((x: { in: string }) => x.in === 'path').map((x: { name: string }) => x.name).sort();
    expect(declared, key).toEqual(inPath);
    const statuses = Object.keys(op.responses);
    expect(statuses.some((s) => s.startsWith('2')), key).toBe(true);
    for (const s of ['401', '403', '429']) expect(statuses, key).toContain(s);
    const lenient = op['x-input'] === 'lenient';
    if (['post', 'put', 'patch'].includes(method)) for (const s of lenient ? ['400', '413'] : ['400', '413', '415']) expect(statuses, key).toContain(s);
    if (op.requestBody && !lenient) expect(statuses, key).toContain('422');
    if (lenient) for (const s of ['415', '422']) expect(statuses, `${key}: every input problem is a 400`).not.toContain(s);
    if (inPath.length) expect(statuses, `${key} answers 404 for an unknown ${inPath.join('/')}`).toContain('404');
    for (const [status, r] of Object.entries(op.responses as Record<string, { content?: Record<string, { schema: Schema }>; headers?: Record<string, unknown> }>)) {
      if (Number(status) >= 400) expect(r.content?.['application/json'].schema, `${key} ${status}`).toEqual({ $ref: '#/components/schemas/Error' });
      // A created object's URL comes back in Location (a group relation has no URL of its own).
      if (status === '201' && !key.endsWith('/group-relations')) expect(Object.keys(r.headers ?? {}), `${key} 201`).toContain('Location');
    }
    expect(Object.keys(op.responses['401'].headers), key).toContain('WWW-Authenticate');
    expect(Object.keys(op.responses['429'].headers), key).toContain('Retry-After');
  });

  it.each(operations.filter((o) => o.op.responses['200']?.content).map((o) => [o.key, o] as const))('%s: describes a list page concretely (no allOf for a typed client)', (key, { op }) => {
    const schema = resolve(op.responses['200'].content['application/json'].schema);
    expect(JSON.stringify(schema), key).not.toContain('allOf');
    if (schema.properties?.items) expect(schema.properties.items.items, key).toBeDefined();
  });

  it.each(withBody.map((o) => [o.key, o] as const))('%s: documents a request body that refuses unknown fields, with an example that matches it', (key, o) => {
    const v = responseValidator();
    expect(bodySchema(o).additionalProperties, key).toBe(false);
    const pointer = `openapi.json#/paths/${o.path.replace(/~/g, '~0').replace(/\//g, '~1')}/${o.method}/requestBody/content/application~1json/schema`;
    const fn = v.ajv.getSchema(pointer)!;
    expect(fn(exampleOf(o)), `${key} example: ${JSON.stringify(fn.errors)}`).toBe(true);
  });
});

describe('GET /api/v1/openapi.json', () => {
  it('serves the document of this server without a token, as JSON', async () => {
    const res = await request(t.server).get('/api/v1/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('application/json');
    expect(res.body).toEqual(JSON.parse(JSON.stringify(servedDocument(t.config.baseUrl))));
  });

  it('is also served to a valid token', async () => {
    const res = await request(t.server).get('/api/v1/openapi.json').set('Authorization', `Bearer ${adminToken}`);
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
  });

  it('describes what a token sent to the public document gets', async () => {
    // The document needs no token; a token that is sent is still checked.
    const viewerToken = await t.token('viewer');
    expect((await request(t.server).get('/api/v1/openapi.json').set('Authorization', `Bearer ${viewerToken}`)).status).toBe(403);
    expect((await request(t.server).get('/api/v1/openapi.json').set('Authorization', 'Bearer not-a-token')).status).toBe(401);
  });
});

describe('every operation follows the same rules', () => {
  it.each(withBody.map((o) => [o.key, o] as const))('%s: refuses an unknown field with 400 naming it, and writes nothing', async (key, o) => {
    const objects = await makePathObjects(t);
    const before = await auditCount();
    const res = await call(t, adminToken, o.method, concrete(o.path, objects)).send({ ...exampleOf(o), sneaky_field: '<script>x</script>' });
    expect(res.status, `${key}: ${JSON.stringify(res.body)}`).toBe(400);
    expect(res.body.error.details.fields, key).toHaveProperty('sneaky_field');
    expect(await auditCount()).toBe(before);
  });

  it.each(withBody.map((o) => [o.key, o] as const))('%s: refuses null where a field does not allow it with 422 naming every such field', async (key, o) => {
    const objects = await makePathObjects(t);
    const fields = Object.entries(bodySchema(o).properties ?? {})
      .filter(([, s]) => !JSON.stringify(s).includes('"null"'))
      .map(([name]) => name);
    const before = await auditCount();
    const res = await call(t, adminToken, o.method, concrete(o.path, objects)).send({ ...exampleOf(o), ...Object.fromEntries(fields.map((f) => [f, null])) });
    expect(res.status, `${key}: ${JSON.stringify(res.body)}`).toBe(422);
    for (const f of fields) expect(res.body.error.details.fields, `${key} ${f}`).toHaveProperty(f);
    expect(await auditCount()).toBe(before);
  });

  it.each(strict.filter((o) => ['post', 'put', 'patch'].includes(o.method)).map((o) => [o.key, o] as const))(
    '%s: answers 415 to a body that is not JSON, and writes nothing',
    async (key, o) => {
      const objects = await makePathObjects(t);
      const before = await auditCount();
      const form = await call(t, adminToken, o.method, concrete(o.path, objects)).type('form').send(exampleOf(o) ?? { a: '1' });
      expect(form.status, `${key}: ${JSON.stringify(form.body)}`).toBe(415);
      expect(form.body.error.code).toBe('unsupported_media_type');
      const text = await call(t, adminToken, o.method, concrete(o.path, objects)).set('Content-Type', 'text/plain').send(JSON.stringify(exampleOf(o) ?? {}));
      expect(text.status, key).toBe(415);
      expect(await auditCount()).toBe(before);
    },
  );

  const lenientWithBody = operations.filter((o) => isLenient(o) && o.op.requestBody);

  it.each(lenientWithBody.map((o) => [o.key, o] as const))('%s (a standard\'s rules): ignores unknown fields, answers 400 to null in a required field and to a body that is not JSON', async (key, o) => {
    const v = responseValidator();
    const pointer = `openapi.json#/paths/${o.path.replace(/~/g, '~0').replace(/\//g, '~1')}/${o.method}/requestBody/content/application~1json/schema`;
    expect(v.ajv.getSchema(pointer)!(exampleOf(o)), `${key} example`).toBe(true);
    const ignored = await call(t, adminToken, o.method, o.path).send({ ...exampleOf(o), sneaky_field: '<script>x</script>' });
    expect(ignored.status, `${key}: ${JSON.stringify(ignored.body)}`).toBe(200);
    const required = (bodySchema(o).required ?? []) as string[];
    if (required.length) {
      const nulls = await call(t, adminToken, o.method, o.path).send({ ...exampleOf(o), ...Object.fromEntries(required.map((f) => [f, null])) });
      expect(nulls.status, `${key}: ${JSON.stringify(nulls.body)}`).toBe(400);
      for (const f of required) expect(nulls.body.error.details.fields, `${key} ${f}`).toHaveProperty(f);
    }
    const text = await call(t, adminToken, o.method, o.path).set('Content-Type', 'text/plain').send(JSON.stringify(exampleOf(o)));
    expect(text.status, key).toBe(400);
  });

  it.each(operations.filter((o) => ['post', 'put', 'patch'].includes(o.method)).map((o) => [o.key, o] as const))('%s: answers malformed JSON with 400', async (key, o) => {
    const objects = await makePathObjects(t);
    const res = await call(t, adminToken, o.method, concrete(o.path, objects)).set('Content-Type', 'application/json').send('{"oops": ');
    expect(res.status, key).toBe(400);
    expect(res.body.error.code, key).toBe('malformed_body');
    for (const body of ['[1,2]', '"text"', '42']) {
      const notObject = await call(t, adminToken, o.method, concrete(o.path, objects)).set('Content-Type', 'application/json').send(body);
      expect(notObject.status, `${key} body ${body}`).toBe(400);
    }
  });

  it.each(operations.filter((o) => o.method === 'post' && !o.op.requestBody).map((o) => [o.key, o] as const))('%s: refuses a field sent to an action that takes none', async (key, o) => {
    const objects = await makePathObjects(t);
    const before = await auditCount();
    const res = await call(t, adminToken, o.method, concrete(o.path, objects)).send({ reason: 'left the company' });
    expect(res.status, key).toBe(400);
    expect(res.body.error.details.fields, key).toHaveProperty('reason');
    expect(await auditCount()).toBe(before);
  });

  it.each(operations.filter((o) => (o.op.parameters ?? []).some((p: { in: string }) => p.in === 'query')).map((o) => [o.key, o] as const))(
    '%s: refuses an unknown query parameter with 400 naming it',
    async (key, o) => {
      const objects = await makePathObjects(t);
      const res = await call(t, adminToken, o.method, `${concrete(o.path, objects)}?sneaky=1`).send(exampleOf(o) ?? {});
      expect(res.status, `${key}: ${JSON.stringify(res.body)}`).toBe(400);
      expect(res.body.error.details.fields, key).toHaveProperty('sneaky');
    },
  );

  it.each(operations.filter((o) => o.path.includes('{')).map((o) => [o.key, o] as const))('%s: answers not_found with the type of object for an unknown one in the path', async (key, o) => {
    const url = o.path.replace(/\{([^}]+)\}/g, (_, name: string) => (name === 'id' ? '999999' : name === 'key' ? 'no_such_key' : 'no-such-thing'));
    const res = await call(t, adminToken, o.method, url).send(exampleOf(o) ?? {});
    expect(res.status, `${key}: ${JSON.stringify(res.body)}`).toBe(404);
    expect(res.body.error.code, key).toBe('not_found');
    expect(res.body.error.details.type, key).toMatch(/^[a-z_]+$/);
  });
});

describe('the protocol around the operations', () => {
  it('checks the token before it reads the body: no token answers 401 whatever the body', async () => {
    const malformed = await request(t.server).post('/api/v1/groups').set('Content-Type', 'application/json').send('{"oops": ');
    expect(malformed.status).toBe(401);
    expect(malformed.headers['www-authenticate']).toMatch(/^Bearer /);
    const huge = await request(t.server).post('/api/v1/groups').set('Content-Type', 'application/json').send(`{"name":"${'x'.repeat(3 * 1024 * 1024)}"}`);
    expect(huge.status).toBe(401);
    const viewerToken = await t.token('viewer');
    const noApi = await request(t.server).post('/api/v1/groups').set('Authorization', `Bearer ${viewerToken}`).set('Content-Type', 'application/json').send('{"oops": ');
    expect(noApi.status).toBe(403);
  });

  it('does not parse a body sent without a token (eight 2 MB nested arrays)', async () => {
    const parsed: number[] = [];
    const original = JSON.parse;
    JSON.parse = ((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
      parsed.push(String(text).length);
      return original(text, reviver);
    }) as typeof JSON.parse;
    try {
      const nested = `${'['.repeat(1024 * 1024)}${']'.repeat(1024 * 1024)}`;
      const answers = await Promise.all(
        Array.from({ length: 8 }, () => request(t.server).post('/api/v1/groups').set('Content-Type', 'application/json').send(nested)),
      );
      expect(answers.map((r) => r.status)).toEqual(Array(8).fill(401));
    } finally {
      JSON.parse = original;
    }
    expect(parsed.filter((n) => n > 1024 * 1024)).toEqual([]);
  });

  it('answers 401 with WWW-Authenticate: Bearer without a token, and with error="invalid_token" for a bad one', async () => {
    const none = await request(t.server).get('/api/v1/groups');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="Gatehouse API"');
    const bad = await request(t.server).get('/api/v1/groups').set('Authorization', 'Bearer gh_not-a-token');
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toBe('Bearer realm="Gatehouse API", error="invalid_token"');
  });

  it('answers 405 with Allow for a method a path does not take', async () => {
    const res = await request(t.server).put('/api/v1/groups').set('Authorization', `Bearer ${adminToken}`).send({});
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('HEAD, GET, POST');
    expect(res.body.error.code).toBe('method_not_allowed');
  });

  it('answers not_found with type "endpoint" for an address the API does not have', async () => {
    const res = await request(t.server).get('/api/v1/no-such-thing').set('Authorization', `Bearer ${adminToken}`);
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 'not_found', details: { type: 'endpoint' } });
  });

  it('documents the 413 of an oversized body', async () => {
    const big = await request(t.server).post('/api/v1/groups').set('Authorization', `Bearer ${adminToken}`).send({ name: 'Big', description: 'x'.repeat(3 * 1024 * 1024) });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('too_large');
  });

  it('documents the 429 of a busy token', async () => {
    const busy = await createTestApp({ apiRateLimitPerMinute: 2 });
    try {
      await busy.makeUser({ username: 'busy', role: 'superuser' });
      const token = await busy.token('busy');
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await request(busy.server).get('/api/v1/groups').set('Authorization', `Bearer ${token}`)).status);
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await busy.close();
    }
  });
});

describe('the response check of the test suite', () => {
  const v = new ResponseValidator(doc);
  const group = { id: 1, name: 'Sales', description: '', memberCount: 0, version: 1, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', approverGroups: [], requesterGroups: [] };

  it('accepts a response the document describes', () => {
    expect(() => v.check({ method: 'GET', path: '/api/v1/groups/Sales', status: 200, body: group })).not.toThrow();
    expect(() => v.check({ method: 'GET', path: '/api/v1/groups/Sales', status: 404, body: { error: { code: 'not_found', message: 'Group not found.', details: { type: 'group' } } } })).not.toThrow();
  });

  it('catches a wrong body: a wrong type, a missing field, a field the document does not know', () => {
    expect(() => v.check({ method: 'GET', path: '/api/v1/groups/Sales', status: 200, body: { ...group, version: '1' } })).toThrow(/\/version must be integer/);
    const { name: _drop, ...noName } = group;
    expect(() => v.check({ method: 'GET', path: '/api/v1/groups/Sales', status: 200, body: noName })).toThrow(/must have required property 'name'/);
    expect(() => v.check({ method: 'GET', path: '/api/v1/groups/Sales', status: 200, body: { ...group, secret: 'x' } })).toThrow(OpenApiMismatch);
    expect(() => v.check({ method: 'GET', path: '/api/v1/groups/Sales', status: 404, body: { message: 'nope' } })).toThrow(/does not match/);
  });

  it('catches an undocumented status, a 500, a missing header and an undocumented operation', () => {
    expect(() => v.check({ method: 'GET', path: '/api/v1/groups/Sales', status: 418, body: {} })).toThrow(/status 418 is not documented for GET \/api\/v1\/groups\/\{name\}/);
    expect(() => v.check({ method: 'GET', path: '/api/v1/groups', status: 500, body: { error: { code: 'internal_error', message: 'x', details: null } } })).toThrow(/status 500 is not documented/);
    expect(() => v.check({ method: 'POST', path: '/api/v1/groups', status: 201, body: group, headers: {} })).toThrow(/header Location is missing/);
    expect(() => v.check({ method: 'GET', path: '/api/v1/secret-admin', status: 200, body: {} })).toThrow(/no operation GET \/api\/v1\/secret-admin/);
    expect(() => v.check({ method: 'GET', path: '/api/v1/nothing-here', status: 404, body: { error: { code: 'not_found', message: 'x', details: { type: 'endpoint' } } } })).not.toThrow();
  });

  it('picks the most specific path: PUT /roles/default is not PATCH /roles/{id}', () => {
    expect(v.match('PUT', '/api/v1/roles/default')?.template).toBe('/api/v1/roles/default');
    expect(v.match('GET', '/api/v1/roles/12')?.template).toBe('/api/v1/roles/{id}');
    expect(v.match('GET', '/api/v1/users/jane/approvers')?.template).toBe('/api/v1/users/{username}/approvers');
  });

  it('is installed in every test app: it sees real responses and reports a contradiction', async () => {
    const seen = apiCheckStats.checked;
    const res = await request(t.server).get('/api/v1/groups').set('Authorization', `Bearer ${adminToken}`);
    expect(res.status).toBe(200);
    expect(apiCheckStats.checked).toBe(seen + 1);
    expect(responseValidator().doc).toBe(doc);

    // The same middleware in front of an app that answers what the document does not say.
    const messages: string[] = [];
    const app = new Koa();
    app.use(recordApiResponses(() => v, (m) => messages.push(m)));
    app.use((ctx) => {
      ctx.state.isApi = true;
      ctx.body = { ...group, version: 'one' };
    });
    await request(app.callback()).get('/api/v1/groups/Sales');
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/GET \/api\/v1\/groups\/Sales → 200: the body does not match/);
  });

  // Starts a Vitest of its own (and, on MariaDB, its template database).
  it('fails a test whose own assertions pass when a response contradicts the document', { timeout: 180_000 }, () => {
    // Runs a fixture test in its own Vitest: it breaks the document's Group schema and makes a request.
    const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/fixtures/vitest.fixture.config.ts'], {
      cwd: ROOT_DIR,
      encoding: 'utf8',
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      timeout: 170_000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    expect(r.status, out).not.toBe(0);
    expect(out).toContain('not matching the OpenAPI document');
    expect(out).toMatch(/GET \/api\/v1\/groups\/Admins → 200: the body does not match/);
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

  // A long page walked whole: a busy machine needs more than the default minute.
  it('renders every operation with its method, path, permission, responses and a curl example', { timeout: 180_000 }, async () => {
    const viewer = await t.signIn('viewer');
    const res = await viewer.get('/api-docs');
    expect(res.status).toBe(200);
    const page = $(res.text);
    expect(page('h1').text()).toBe('API reference');
    expect(page('article.api-op')).toHaveLength(operations.length);
    const toc = new Set(page('.api-toc a').map((_, a) => page(a).attr('href')).get());
    for (const { key, op } of operations) {
      const el = page(`#op-${op.operationId}`);
      expect(el.length, key).toBe(1);
      expect(el.find('.api-op-title').text().replace(/\s+/g, ' '), key).toContain(key);
      expect(el.find('.api-permission').text(), key).toMatch(/Permission needed:/);
      expect(el.find('.api-responses tbody tr').length, key).toBe(Object.keys(op.responses).length);
      expect(el.find('pre.api-example').text(), key).toMatch(/^curl -X [A-Z]+ 'http/);
      // The table of contents links to it.
      expect(toc.has(`#op-${op.operationId}`), key).toBe(true);
    }
    // A body's fields and constraints, and the schemas the responses link to.
    const create = page('#op-createGroup');
    expect(create.find('.api-fields').first().text()).toContain('name');
    expect(create.text()).toContain('1–100 characters');
    expect(create.find('pre.api-example').text()).toContain(`-d '{"name":"Sales Analysts"`);
    expect(page('#op-listAuditEvents .api-permission').text()).toContain('users.manage');
    // Every schema has its section, and every link to a schema lands on one (ids collected once: the page is long).
    const anchors = new Set(page('[id^="schema-"]').map((_, e) => page(e).attr('id')).get());
    for (const name of Object.keys(doc.components.schemas)) expect(anchors.has(`schema-${name}`), name).toBe(true);
    for (const href of new Set(page('a[href^="#schema-"]').map((_, a) => page(a).attr('href')).get())) expect(anchors.has(href.slice(1)), href).toBe(true);
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
