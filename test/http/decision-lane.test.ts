/**
 * The decision lane (src/http/decisionLane.ts) answers the common decision requests in front of Koa. Its
 * answers must be the full path's, body and headers; what it cannot answer alone it hands to Koa, with the
 * body it already read, to be answered exactly once (and counted once against a rate limit).
 */
import request from 'supertest';
import type Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, eachTestStartsFromSetUp, type TestApp } from '../support/app';
import { createApp } from '../../src/app';
import { logSink } from '../support/logSink';
import { apiCheckStats, recordLaneResponses } from '../support/openapi';

let t: TestApp;
let token: string;

beforeAll(async () => {
  t = await createTestApp({ apiRateLimitPerMinute: 3 });
  await t.makeUser({ username: 'lane.admin', role: 'superuser' });
  await t.makeUser({ username: 'lane.reader' });
  token = await t.token('lane.admin');
});
afterAll(() => t.close());
eachTestStartsFromSetUp(() => t);

const CHECK = { user: 'lane.reader', domain: 'Processes', operation: 'R', workspace: '/Root' };
const EVALUATION = { subject: { type: 'user', id: 'lane.reader' }, action: { name: 'read' }, resource: { type: 'processes', id: '/Root' } };
const EVALUATIONS = { subject: { type: 'user', id: 'lane.reader' }, evaluations: [{ action: { name: 'read' }, resource: { type: 'processes', id: '/Root' } }] };

/** The app's listener, counting the requests that reached Koa's middleware (the lane answers the others alone). */
function countingServer(): { server: ReturnType<Koa['callback']>; reachedKoa: () => number } {
  let reached = 0;
  const app = t.gate.app;
  const counter: Koa.Middleware = (_ctx, next) => {
    reached++;
    return next();
  };
  app.middleware.unshift(counter);
  try {
    return { server: app.callback(), reachedKoa: () => reached };
  } finally {
    app.middleware.shift();
  }
}

const IGNORED_HEADERS = new Set(['date', 'x-request-id', 'connection', 'keep-alive', 'gatehouse-consistency-token']);
const comparable = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).filter(([name]) => !IGNORED_HEADERS.has(name)));

describe('answered in front of Koa', () => {
  for (const [path, body] of [
    ['/api/v1/check', CHECK],
    ['/access/v1/evaluation', EVALUATION],
    ['/access/v1/evaluations', EVALUATIONS],
  ] as const) {
    it(`${path}: the same answer and headers as the full path, without reaching Koa`, async () => {
      const { server, reachedKoa } = countingServer();
      // The token's first use of the minute goes the full way, which writes its last-used time.
      expect((await request(server).post(path).set('Authorization', `Bearer ${token}`).send(body)).status).toBe(200);
      expect(reachedKoa()).toBe(1);
      const lane = await request(server).post(path).set('Authorization', `Bearer ${token}`).send(body);
      expect(lane.status, JSON.stringify(lane.body)).toBe(200);
      expect(reachedKoa()).toBe(1);
      // A consistency-token header is left to the full path.
      const full = await request(server).post(path).set('Authorization', `Bearer ${token}`).set('Gatehouse-Consistency-Token', '0').send(body);
      expect(reachedKoa()).toBe(2);
      expect(lane.body).toEqual(full.body);
      expect(comparable(lane.headers)).toEqual(comparable(full.headers));
      expect(lane.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      expect(lane.headers['gatehouse-consistency-token']).toMatch(/^\d+$/);
    });
  }

  it('its answers are checked against the OpenAPI document like every other (test/support/openapi.ts)', async () => {
    const { server, reachedKoa } = countingServer();
    const checked = recordLaneResponses(server);
    await request(checked).post('/api/v1/check').set('Authorization', `Bearer ${token}`).send(CHECK);
    const seen = apiCheckStats.checked;
    const res = await request(checked).post('/api/v1/check').set('Authorization', `Bearer ${token}`).send(CHECK);
    expect(res.status).toBe(200);
    expect(reachedKoa()).toBe(1);
    expect(apiCheckStats.checked).toBe(seen + 1);
  });

  it('echoes a sane request id', async () => {
    const res = await request(t.server).post('/api/v1/check').set('Authorization', `Bearer ${token}`).set('X-Request-Id', 'pep-7.abc').send(CHECK);
    expect(res.headers['x-request-id']).toBe('pep-7.abc');
  });
});

describe('handed to Koa', () => {
  it('a malformed body, an array or a question naming nobody: the full path’s 400 and 422', async () => {
    const malformed = await request(t.server).post('/api/v1/check').set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send('{"user":');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('malformed_body');
    const array = await request(t.server).post('/access/v1/evaluation').set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send('[]');
    expect(array.status).toBe(400);
    const nobody = await request(t.server).post('/api/v1/check').set('Authorization', `Bearer ${token}`).send({ ...CHECK, user: 'nobody.at.all' });
    expect(nobody.status).toBe(422);
    expect(nobody.body.error.details.fields.user).toContain('nobody.at.all');
  });

  it('counts a request once against the rate limit, whoever answers it', async () => {
    // A limit of 3 a minute: a decision (the token's first: the full path), a question the full path
    // explains (422), a decision the lane answers alone, then a refused body (400) is one too many.
    expect((await request(t.server).post('/api/v1/check').set('Authorization', `Bearer ${token}`).send(CHECK)).status).toBe(200);
    expect((await request(t.server).post('/api/v1/check').set('Authorization', `Bearer ${token}`).send({ ...CHECK, user: 'nobody.at.all' })).status).toBe(422);
    expect((await request(t.server).post('/api/v1/check').set('Authorization', `Bearer ${token}`).send(CHECK)).status).toBe(200);
    const over = await request(t.server).post('/api/v1/check').set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send('{');
    expect(over.status).toBe(429);
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('an unknown token or a caller without the permission: 401 and 403 as before', async () => {
    const unknown = await request(t.server).post('/api/v1/check').set('Authorization', 'Bearer not-a-token').send(CHECK);
    expect(unknown.status).toBe(401);
    expect(unknown.headers['www-authenticate']).toContain('invalid_token');
    const reader = await request(t.server).post('/api/v1/check').set('Authorization', `Bearer ${await t.token('lane.reader')}`).send(CHECK);
    expect(reader.status).toBe(403);
  });

  it('with debug logging, every decision goes the full way and is logged', async () => {
    const { sink, entries } = logSink();
    // Not closed: closing an app that shares the file's database would stop that database's change-log follower.
    const gate = await createApp({ ...t.config, logLevel: 'debug' }, { db: t.db, logDestination: sink });
    const res = await request(gate.app.callback()).post('/api/v1/check').set('Authorization', `Bearer ${token}`).set('X-Request-Id', 'lane-debug').send(CHECK);
    expect(res.status).toBe(200);
    expect(entries().find((e) => e.reqId === 'lane-debug')).toMatchObject({ level: 'debug', msg: 'request', route: '/api/v1/check', status: 200 });
  });
});

describe('the body, as the API reads it', () => {
  it('refuses prototype poisoning and non-object JSON, accepts a byte-order mark', async () => {
    // A machine client without a rate limit (the file's personal tokens have 3 requests a minute).
    const client = await t.make.makeClient({ owner: 'lane.admin', scopes: ['decisions'] });
    const clientToken = await t.make.clientToken(client.id);
    const send = (text: string) => request(t.server).post('/api/v1/check').set('Authorization', `Bearer ${clientToken}`).set('Content-Type', 'application/json').send(text);
    // Warm the token (its first use of a minute goes the full way).
    expect((await send(JSON.stringify(CHECK))).status).toBe(200);
    const poisoned = await send(JSON.stringify(CHECK).replace('{', '{"__proto__":{"isSuperuser":true},'));
    expect(poisoned.status).toBe(400);
    expect(poisoned.body.error.code).toBe('malformed_body');
    expect((await send('"a string"')).status).toBe(400);
    const bom = await send(`\uFEFF${JSON.stringify(CHECK)}`);
    expect(bom.status, JSON.stringify(bom.body)).toBe(200);
    expect(bom.body.allowed).toBe(false);
  });
});
