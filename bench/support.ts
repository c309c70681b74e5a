import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ROOT_DIR } from '../src/paths';

/** Percentiles of a list of durations in milliseconds. */
export function summarize(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  return {
    n: sorted.length,
    p50: +at(50).toFixed(2),
    p95: +at(95).toFixed(2),
    p99: +at(99).toFixed(2),
    max: +sorted[sorted.length - 1].toFixed(2),
  };
}

export function writeResult(name: string, data: unknown): string {
  const dir = path.join(ROOT_DIR, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  // The machine is shared: its load when the figures were taken says how far to trust them.
  fs.writeFileSync(file, JSON.stringify({ measuredAt: new Date().toISOString(), node: process.version, loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100), cpus: os.cpus().length, ...(data as object) }, null, 2) + '\n');
  return file;
}

/** Serves a Koa callback on a free local port. */
export async function serve(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A tiny cookie-keeping client for timing pages as a signed-in browser would request them. */
export class Client {
  private cookies = new Map<string, string>();
  constructor(private readonly base: string) {}

  async request(method: string, url: string, body?: Record<string, string>, headers: Record<string, string> = {}) {
    const res = await fetch(this.base + url, {
      method,
      redirect: 'manual',
      headers: {
        cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...headers,
      },
      body: body ? new URLSearchParams(body).toString() : undefined,
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return { status: res.status, text: await res.text(), headers: res.headers };
  }

  /** The session cookie, for load generators that sign in as this client. */
  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async signIn(username: string, password: string) {
    const page = await this.request('GET', '/login');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? '';
    const res = await this.request('POST', '/login', { _csrf: csrf, username, password });
    if (res.status !== 303) throw new Error(`sign-in failed: ${res.status}`);
    const account = await this.request('GET', '/account');
    return /name="_csrf" value="([^"]+)"/.exec(account.text)?.[1] ?? '';
  }

  /** Times `runs` requests (after warm-up) and returns the percentiles. */
  async time(url: string, runs: number, headers: Record<string, string> = {}) {
    for (let i = 0; i < 3; i++) await this.request('GET', url, undefined, headers);
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const res = await this.request('GET', url, undefined, headers);
      samples.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
    }
    return summarize(samples);
  }
}

/**
 * The database a benchmark runs on: DATABASE_URL, or a throw-away SQLite file; migrated, seeded, and filled
 * with seed:demo data up to `targetUsers` users.
 */
export async function benchDatabase(name: string, targetUsers: number) {
  const { loadConfig } = await import('../src/config');
  const { createDb } = await import('../src/db/connect');
  const { prepareDatabase } = await import('../src/setup/bootstrap');
  const { seedDemo } = await import('../seeds/demo');
  const os = await import('node:os');
  const tempFile = path.join(os.tmpdir(), `gatehouse-bench-${name}-${process.pid}.sqlite`);
  // Measured as deployed: compiled templates cached (as in production); request logs only when asked for
  // (GATEHOUSE_LOG_LEVEL), so the figures are the console's work, not a terminal's.
  const config = loadConfig(process.env, {
    sqliteFile: process.env.GATEHOUSE_SQLITE_FILE || tempFile,
    scryptN: 2 ** 14,
    cacheTemplates: true,
    logLevel: process.env.GATEHOUSE_LOG_LEVEL || 'warn',
  });
  const dialect: 'mysql' | 'sqlite' = config.databaseUrl ? 'mysql' : 'sqlite';
  const db = createDb(config);
  await prepareDatabase(db);
  const have = Number((await db('users').count({ n: '*' }).first())?.n ?? 0);
  if (have < targetUsers) {
    const t0 = Date.now();
    await seedDemo(db, { users: targetUsers - have, scryptN: 2 ** 14, password: 'demo-password-2026', log: (l) => console.log(l) });
    console.log(`seeded ${(targetUsers - have).toLocaleString('en-US')} users (seed:demo) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  return {
    config,
    db,
    dialect,
    /** Closes the connection and removes the throw-away SQLite file (never a database you named). */
    async cleanup() {
      await db.destroy();
      if (!config.databaseUrl && config.sqliteFile === tempFile) for (const f of [tempFile, `${tempFile}-wal`, `${tempFile}-shm`]) fs.rmSync(f, { force: true });
    },
  };
}

/** The console on a free port with a signed-in Superuser client. */
export async function benchConsole(config: import('../src/config').Config, db: import('../src/db/connect').Db) {
  const { createApp } = await import('../src/app');
  const { createSuperuser } = await import('../src/setup/bootstrap');
  await createSuperuser(db, config, { username: 'bench-admin', password: 'bench-password-123', email: 'bench-admin@example.com' });
  const gate = await createApp(config, { db });
  const server = await serve(gate.app.callback());
  const client = new Client(server.url);
  const csrf = await client.signIn('bench-admin', 'bench-password-123');
  return {
    gate,
    server,
    client,
    csrf,
    async close() {
      await server.close();
      await gate.close();
    },
  };
}

/** Times `runs` calls of `request` after two warm-up calls; every answer must have the expected status. */
export async function timed(runs: number, request: (i: number) => Promise<{ status: number; text?: string }>, expect: number) {
  for (let i = 0; i < 2; i++) {
    const res = await request(-1 - i);
    if (res.status !== expect) throw new Error(`warm-up answered ${res.status}: ${res.text?.slice(0, 300)}`);
  }
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const res = await request(i);
    samples.push(performance.now() - t0);
    if (res.status !== expect) throw new Error(`answered ${res.status}, expected ${expect}`);
  }
  return summarize(samples);
}

/** A small seeded random generator (mulberry32), so benchmark questions are the same from run to run. */
export function mulberry32(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
