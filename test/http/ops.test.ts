/**
 * Operations endpoints (/healthz, /readyz, /metrics), request ids and access logs, restriction by network or
 * token, graceful shutdown, and the pool's recovery from a dead connection.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import { logSink } from '../support/logSink';
import { createApp } from '../../src/app';
import { createTestDatabase } from '../support/db';
import { gracefulShutdown } from '../../src/ops/shutdown';
import { transaction } from '../../src/db/transaction';

let t: TestApp;
let token: string;

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'opsadmin', role: 'superuser' });
  token = await t.token('opsadmin');
});
afterAll(() => t.close());

const isMysql = !!process.env.DATABASE_URL;

describe('health and readiness', () => {
  it('answers /healthz without touching sessions', async () => {
    const res = await request(t.server).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('answers /readyz 200 with the named checks and nothing else', async () => {
    const res = await request(t.server).get('/readyz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready', checks: { database: 'ok', index: 'loaded', changeLog: 'following' } });
  });

  it('refuses other methods with 405 and Allow', async () => {
    const res = await request(t.server).post('/readyz');
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it('answers /readyz 503 with Retry-After while draining for a shutdown', async () => {
    t.gate.ops.lifecycle.draining = true;
    try {
      const res = await request(t.server).get('/readyz');
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.body.status).toBe('shutting down');
      // Other requests are still served, and close their connection so a balancer moves on.
      const health = await request(t.server).get('/healthz');
      expect(health.status).toBe(200);
      expect(health.headers.connection).toBe('close');
    } finally {
      t.gate.ops.lifecycle.draining = false;
    }
  });

  it('answers /readyz 503 with Retry-After when the database is gone, /healthz still 200', async () => {
    const tdb = await createTestDatabase();
    const gate = await createApp(tdb.config, { db: tdb.db });
    await tdb.cleanup(); // the pool is destroyed: every query now fails
    const ready = await request(gate.app.callback()).get('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.headers['retry-after']).toBe('1');
    expect(ready.body).toEqual({ status: 'not ready', checks: { database: 'failed', index: 'not loaded', changeLog: 'behind' } });
    const health = await request(gate.app.callback()).get('/healthz');
    expect(health.status).toBe(200);
  });
});

describe('request ids and logs', () => {
  it('echoes a sane X-Request-Id and generates one otherwise', async () => {
    const given = await request(t.server).get('/healthz').set('X-Request-Id', 'trace-42.abc');
    expect(given.headers['x-request-id']).toBe('trace-42.abc');
    const generated = await request(t.server).get('/healthz');
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const hostile = await request(t.server).get('/healthz').set('X-Request-Id', 'x'.repeat(300));
    expect(hostile.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const injected = await request(t.server).get('/healthz').set('X-Request-Id', 'a b"c');
    expect(injected.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('writes one JSON line per request with id, route and status, and no body, token, query or password', async () => {
    const { sink, lines } = logSink();
    const gate = await createApp({ ...t.config, logLevel: 'info' }, { db: t.db, logDestination: sink });
    const res = await request(gate.app.callback())
      .post('/api/v1/users')
      .set('Authorization', `Bearer ${token}`)
      .set('X-Request-Id', 'req-create-1')
      .send({ username: 'logged1', firstName: 'Log', lastName: 'Ged', email: 'logged1@example.com', password: 'a-very-secret-password-9', role: 'Analyst' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const entry = lines.map((l) => JSON.parse(l)).find((e) => e.reqId === 'req-create-1');
    expect(entry).toMatchObject({ level: 'info', msg: 'request', method: 'POST', route: '/api/v1/users', path: '/api/v1/users', status: 201 });
    expect(typeof entry.ms).toBe('number');
    const search = await request(gate.app.callback()).get('/api/v1/users?q=query-value').set('Authorization', `Bearer ${token}`);
    expect(search.status).toBe(200);
    expect(lines.map((l) => JSON.parse(l)).find((e) => e.route === '/api/v1/users' && e.method === 'GET')).toMatchObject({ path: '/api/v1/users', status: 200 });
    const all = lines.join('\n');
    expect(all).not.toContain('a-very-secret-password-9');
    expect(all).not.toContain(token);
    expect(all).not.toContain('query-value');
    expect(all).not.toContain('logged1@example.com');
  });
});

describe('decision requests', () => {
  const question = { user: 'opsadmin', domain: 'Processes', operation: 'R', workspace: '/Root' };

  it('logs a decision at debug level, and a refused or failed one at info', async () => {
    // Apps sharing the file's database are not closed: closing one stops the database's change-log follower.
    const { sink, entries } = logSink();
    const gate = await createApp({ ...t.config, logLevel: 'info' }, { db: t.db, logDestination: sink });
    // The token's first use of a minute writes its last-used time (full path); the next one is the lane's.
    for (const id of ['decision-first', 'decision-ok']) {
      const ok = await request(gate.app.callback()).post('/api/v1/check').set('Authorization', `Bearer ${token}`).set('X-Request-Id', id).send(question);
      expect(ok.status).toBe(200);
    }
    const unknown = await request(gate.app.callback()).post('/api/v1/check').set('Authorization', `Bearer ${token}`).set('X-Request-Id', 'decision-422').send({ ...question, user: 'nobody-here' });
    expect(unknown.status).toBe(422);
    const anonymous = await request(gate.app.callback()).post('/access/v1/evaluation').set('X-Request-Id', 'decision-401').send({});
    expect(anonymous.status).toBe(401);
    expect(entries().find((e) => e.reqId === 'decision-first')).toBeUndefined();
    expect(entries().find((e) => e.reqId === 'decision-ok')).toBeUndefined();
    expect(entries().find((e) => e.reqId === 'decision-422')).toMatchObject({ level: 'info', route: '/api/v1/check', status: 422 });
    expect(entries().find((e) => e.reqId === 'decision-401')).toMatchObject({ level: 'info', route: '/access/v1/evaluation', status: 401 });

    const debug = logSink();
    const verbose = await createApp({ ...t.config, logLevel: 'debug' }, { db: t.db, logDestination: debug.sink });
    await request(verbose.app.callback()).post('/api/v1/check').set('Authorization', `Bearer ${token}`).set('X-Request-Id', 'decision-debug').send(question);
    expect(debug.entries().find((e) => e.reqId === 'decision-debug')).toMatchObject({ level: 'debug', msg: 'request', route: '/api/v1/check', status: 200 });
  });

  it('answers with the API security headers, the request id and the consistency token', async () => {
    const res = await request(t.server).post('/api/v1/check').set('Authorization', `Bearer ${token}`).set('X-Request-Id', 'lane-1').send(question);
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
      'x-frame-options': 'DENY',
      'x-request-id': 'lane-1',
    });
    expect(res.headers['gatehouse-consistency-token']).toMatch(/^\d+$/);
    // Every API response carries the same set; console pages keep theirs.
    const users = await request(t.server).get('/api/v1/users').set('Authorization', `Bearer ${token}`);
    expect(users.headers['cache-control']).toBe('no-store');
    expect(users.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
    const page = await request(t.server).get('/login');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
  });

  it('leaves other methods on a decision path to the API: 405 with Allow', async () => {
    const res = await request(t.server).get('/api/v1/check').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(405);
    expect(res.headers.allow).toContain('POST');
    expect(res.body.error.code).toBe('method_not_allowed');
  });
});

describe('metrics', () => {
  it('exports request durations per route pattern, decisions by outcome, pool, index and retries', async () => {
    // Other tests of this file share the app and its counters (in any order): compare before and after.
    const countOf = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}()|.*+?^$[\]\\/]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    const CHECK = 'gatehouse_http_request_duration_seconds_count{method="POST",route="/api/v1/check",status="200"}';
    const USER = 'gatehouse_http_request_duration_seconds_count{method="GET",route="/api/v1/users/:username",status="200"}';
    const before = (await request(t.server).get('/metrics')).text;
    const check = await request(t.server)
      .post('/api/v1/check')
      .set('Authorization', `Bearer ${token}`)
      .send({ user: 'opsadmin', domain: 'Processes', operation: 'R', workspace: '/Root' });
    expect(check.status).toBe(200);
    const user = await request(t.server).get('/api/v1/users/opsadmin').set('Authorization', `Bearer ${token}`);
    expect(user.status, JSON.stringify(user.body)).toBe(200);
    const res = await request(t.server).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.text;
    expect(countOf(text, CHECK) - countOf(before, CHECK)).toBe(1);
    expect(countOf(text, USER) - countOf(before, USER)).toBe(1);
    expect(text).toMatch(/gatehouse_decisions_total\{outcome="denied",reason="default"\} [1-9]/);
    expect(text).toMatch(/gatehouse_db_pool_connections\{state="max"\} \d+/);
    expect(text).toMatch(/gatehouse_transaction_retries_total\{reason="conflict"\} \d+/);
    expect(text).toContain('gatehouse_index_loaded 1');
    expect(text).toContain('gatehouse_index_apply_lag_seconds 0');
    // Patterns, not paths: no username leaks into the labels.
    expect(text).not.toContain('opsadmin');
  });
});

describe('restricting readiness and metrics', () => {
  async function appWith(opsAccess: { allowedCidrs: string[]; token?: string }) {
    return (await createApp({ ...t.config, opsAccess }, { db: t.db })).app.callback();
  }

  it('refuses a request from outside the allowed networks, accepts it with the token', async () => {
    const server = await appWith({ allowedCidrs: ['10.0.0.0/8', '2001:db8::/32'], token: 'an-operations-token-123' });
    expect((await request(server).get('/metrics')).status).toBe(403);
    expect((await request(server).get('/readyz')).status).toBe(403);
    expect((await request(server).get('/metrics').set('Authorization', 'Bearer wrong-token-wrong-token')).status).toBe(403);
    expect((await request(server).get('/metrics').set('Authorization', 'Bearer an-operations-token-123')).status).toBe(200);
    // Liveness reveals nothing and stays open.
    expect((await request(server).get('/healthz')).status).toBe(200);
  });

  it('accepts a request from an allowed network without a token', async () => {
    const server = await appWith({ allowedCidrs: ['127.0.0.0/8', '::1/128'] });
    expect((await request(server).get('/readyz')).status).toBe(200);
    expect((await request(server).get('/metrics')).status).toBe(200);
  });

  it('rejects a malformed network at start-up', async () => {
    await expect(createApp({ ...t.config, opsAccess: { allowedCidrs: ['10.0.0.0/33'] } }, { db: t.db })).rejects.toThrow(/prefix/);
    await expect(createApp({ ...t.config, opsAccess: { allowedCidrs: ['localhost'] } }, { db: t.db })).rejects.toThrow(/not an IP/);
  });
});

describe('graceful shutdown', () => {
  it('finishes the request in flight, refuses new connections, and closes the pool', async () => {
    const tdb = await createTestDatabase();
    const gate = await createApp(tdb.config, { db: tdb.db });
    const handler = gate.app.callback();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const inFlight = new Promise<void>((resolve) => (arrived = resolve));
    const server = http.createServer((req, res) => {
      if (req.url === '/healthz?slow') {
        arrived();
        void held.then(() => handler(req, res));
      } else handler(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const slow = fetch(`${base}/healthz?slow`);
      await inFlight;
      const shutdown = gracefulShutdown(server, tdb.db, gate.ops.lifecycle, gate.ops.logger, { drainMs: 0, timeoutMs: 10_000 });
      // The listener is closed: a new connection is refused.
      await new Promise((resolve) => setTimeout(resolve, 50));
      await expect(fetch(`${base}/healthz`, { headers: { Connection: 'close' } })).rejects.toThrow();
      release();
      const res = await slow;
      expect(res.status).toBe(200);
      expect(res.headers.get('connection')).toBe('close');
      expect(await shutdown).toEqual({ completed: true });
      // The pool is closed.
      await expect(tdb.db.raw('SELECT 1')).rejects.toThrow();
    } finally {
      release();
      server.closeAllConnections();
      await tdb.cleanup().catch(() => undefined);
    }
  });
});

describe('transactions and lost connections', () => {
  type FakeDb = { transaction(work: (trx: unknown) => Promise<unknown>): Promise<unknown> };
  const lost = () => Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true });
  const certification = () => Object.assign(new Error('Deadlock found when trying to get lock; try restarting transaction'), { errno: 1213, code: 'ER_LOCK_DEADLOCK' });

  /** A database whose COMMIT (or work) fails as scripted, attempt by attempt. */
  function fake(script: Array<'ok' | 'commit-conflict' | 'commit-lost' | 'work-lost'>): FakeDb & { works: number } {
    let attempt = 0;
    const db = {
      works: 0,
      async transaction(work: (trx: unknown) => Promise<unknown>) {
        const step = script[attempt++] ?? 'ok';
        if (step === 'work-lost') {
          db.works++;
          throw lost();
        }
        const result = await work({});
        db.works++;
        if (step === 'commit-conflict') throw certification();
        if (step === 'commit-lost') throw lost();
        return result;
      },
    };
    return db;
  }

  it('runs the whole transaction again when COMMIT fails certification (Galera reports 1213)', async () => {
    const db = fake(['commit-conflict', 'commit-conflict', 'ok']);
    const result = await transaction(db as never, async () => 'done');
    expect(result).toBe('done');
    expect(db.works).toBe(3);
  });

  it('runs it again on a fresh connection when the connection was lost before COMMIT', async () => {
    const db = fake(['work-lost', 'ok']);
    expect(await transaction(db as never, async () => 'done')).toBe('done');
    expect(db.works).toBe(2);
  });

  it('does not repeat a transaction whose COMMIT may have happened: the caller gets a 503', async () => {
    const db = fake(['commit-lost', 'ok']);
    await expect(transaction(db as never, async () => 'done')).rejects.toMatchObject({ code: 'PROTOCOL_CONNECTION_LOST' });
    expect(db.works).toBe(1);
    const { databaseErrorAsHttp } = await import('../../src/db/errors');
    expect(databaseErrorAsHttp(lost())).toMatchObject({ status: 503 });
    const closed = Object.assign(new Error("Can't add new command when connection is in closed state"), { fatal: true });
    expect(databaseErrorAsHttp(closed)).toMatchObject({ status: 503 });
  });

  it('hands an error raised by COMMIT itself to the retry loop (knex rejects with the COMMIT error)', async () => {
    // SQLite with deferred foreign keys reports the violation at COMMIT: the helper must see that error.
    const sqlite = (await import('../../src/db/connect')).createDb({ sqliteFile: ':memory:' });
    try {
      await sqlite.raw('CREATE TABLE parent (id INTEGER PRIMARY KEY)');
      await sqlite.raw('CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)');
      let reachedEndOfWork = false;
      await expect(
        transaction(sqlite, async (trx) => {
          await trx('child').insert({ id: 1, parent_id: 99 });
          reachedEndOfWork = true;
        }),
      ).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
      expect(reachedEndOfWork).toBe(true);
    } finally {
      await sqlite.destroy();
    }
  });

  it.runIf(isMysql)('replaces a pooled connection the server killed (MariaDB): the next request is answered', async () => {
    // Fill the pool with one idle connection and kill it from another session, as a node restart would.
    const [[row]] = (await t.db.raw('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
    const killer = (await import('../../src/db/connect')).createDb({ databaseUrl: t.config.databaseUrl, sqliteFile: '' });
    try {
      await killer.raw(`KILL CONNECTION ${Number(row.id)}`);
    } finally {
      await killer.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    const res = await request(t.server).get('/api/v1/users/opsadmin').set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
    expect((await request(t.server).get('/readyz')).status).toBe(200);
  });
});
