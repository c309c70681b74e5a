/** The Gatehouse servers of the local cluster: the database they share, their processes, their readiness. */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Layout, paths, ports } from './layout';
import { connectNode } from './galera';
import { runningPid, spawnDetached, stopProcess, waitFor } from './proc';
import { loadConfig } from '../../src/config';
import { createDb } from '../../src/db/connect';
import { ensureFirstSuperuser, prepareDatabase } from '../../src/setup/bootstrap';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DATABASE = 'gatehouse';
export const DB_USER = 'gatehouse';

export interface Credentials {
  dbPassword: string;
  sessionSecret: string;
  adminUsername: string;
  adminPassword: string;
}

/** Generated on the first `up` and kept (mode 600) beside the data, so every later `up` uses the same. */
export function credentials(l: Layout): Credentials {
  const file = paths.credentials(l);
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as Credentials;
  const make = () => randomBytes(18).toString('base64url');
  const created: Credentials = { dbPassword: make(), sessionSecret: randomBytes(32).toString('base64url'), adminUsername: 'admin', adminPassword: make() };
  fs.mkdirSync(l.dir, { recursive: true });
  fs.writeFileSync(file, JSON.stringify(created, null, 2), { mode: 0o600 });
  return created;
}

export function databaseUrl(l: Layout, port: number): string {
  return `mysql://${DB_USER}:${encodeURIComponent(credentials(l).dbPassword)}@127.0.0.1:${port}/${DATABASE}`;
}

/** The schema and its account (replicated to every node), then migrations, reference data and the first Superuser. */
export async function prepareClusterDatabase(l: Layout, viaNode: number): Promise<void> {
  const c = credentials(l);
  const conn = await connectNode(l, viaNode);
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${DATABASE}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await conn.query(`CREATE USER IF NOT EXISTS ?@'127.0.0.1' IDENTIFIED BY ?`, [DB_USER, c.dbPassword]);
    await conn.query(`GRANT ALL PRIVILEGES ON \`${DATABASE}\`.* TO ?@'127.0.0.1'`, [DB_USER]);
  } finally {
    await conn.end();
  }
  const config = loadConfig({ ...process.env, DATABASE_URL: databaseUrl(l, ports.haproxyMysql(l)) });
  const db = createDb(config);
  try {
    await prepareDatabase(db);
    await ensureFirstSuperuser(db, config, { GATEHOUSE_ADMIN_USERNAME: c.adminUsername, GATEHOUSE_ADMIN_PASSWORD: c.adminPassword });
  } finally {
    await db.destroy();
  }
}

export function serverPid(l: Layout, s: number): number | undefined {
  return runningPid(paths.serverPid(l, s));
}

export function serverEnv(l: Layout, s: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const c = credentials(l);
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(ports.server(l, s)),
    DATABASE_URL: databaseUrl(l, ports.haproxyMysqlFor(l, s)),
    GATEHOUSE_BASE_URL: `http://127.0.0.1:${ports.haproxyHttp(l)}`,
    GATEHOUSE_SESSION_SECRET: c.sessionSecret,
    // On SIGTERM stay up, answering /readyz 503, until HAProxy's checks (every second) have taken it out.
    GATEHOUSE_SHUTDOWN_DRAIN_SECONDS: '2',
    ...extra,
  };
}

export function startServer(l: Layout, s: number, extraEnv: NodeJS.ProcessEnv = {}): void {
  if (serverPid(l, s)) return;
  fs.mkdirSync(paths.server(l, s), { recursive: true });
  spawnDetached(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    log: paths.serverLog(l, s),
    pidFile: paths.serverPid(l, s),
    env: serverEnv(l, s, extraEnv),
    cwd: REPO_ROOT,
  });
}

export async function serverReady(l: Layout, s: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${ports.server(l, s)}/readyz`, { signal: AbortSignal.timeout(2000) });
    return res.status === 200;
  } catch {
    return false;
  }
}

export async function waitServerReady(l: Layout, s: number, timeoutMs = 90_000): Promise<void> {
  await waitFor(`Gatehouse server ${s} to be ready (log: ${paths.serverLog(l, s)})`, timeoutMs, async () => {
    if (!serverPid(l, s)) throw new Error(`server ${s} exited; see ${paths.serverLog(l, s)}`);
    return serverReady(l, s);
  });
}

/** SIGTERM: the server stops accepting, finishes what is in flight, closes its pool and exits. */
export async function stopServer(l: Layout, s: number): Promise<void> {
  const pid = serverPid(l, s);
  if (pid) await stopProcess(pid, 'SIGTERM', 40_000);
}
