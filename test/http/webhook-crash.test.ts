/**
 * At least once across a crash: a Gatehouse server (a child process, `tsx src/server.ts`) is killed with
 * SIGKILL while a receiver holds its delivery open; a second server started on the same database takes the
 * endpoint's lease once it expires and delivers the event. Runs on SQLite (a shared file) or, with
 * DATABASE_URL, on a MariaDB database of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { createDb, type Db } from '../../src/db/connect';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as webhooks from '../../src/webhooks/service';
import { factories } from '../support/factories';
import { serverConnection } from '../support/db';
import { startReceiver, type Receiver } from '../support/receiver';

const key = randomBytes(32).toString('hex');
const mysqlUrl = process.env.DATABASE_URL;
const databaseName = `webhooks_crash_${randomBytes(4).toString('hex')}`;
let tmp: string;
let env: NodeJS.ProcessEnv;
let receiver: Receiver;
const children: ChildProcess[] = [];

function databaseEnv(): NodeJS.ProcessEnv {
  if (!mysqlUrl) return { GATEHOUSE_SQLITE_FILE: path.join(tmp, 'gatehouse.sqlite'), DATABASE_URL: '' };
  const u = new URL(mysqlUrl);
  u.pathname = `/${databaseName}`;
  return { DATABASE_URL: u.toString() };
}

/** Starts a server in a child process and waits until it answers /healthz. */
async function startServer(): Promise<ChildProcess> {
  // A port in the webhooks helper's range.
  const port = 4500 + Math.floor(Math.random() * 100);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`The server exited: ${output}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return child;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`The server did not start: ${output}`);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-webhooks-'));
  if (mysqlUrl) {
    const admin = serverConnection(mysqlUrl);
    await admin.raw('CREATE DATABASE ?? CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci', [databaseName]);
    await admin.destroy();
  }
  env = {
    ...process.env,
    ...databaseEnv(),
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    GATEHOUSE_SCRYPT_N: '1024',
    GATEHOUSE_WEBHOOKS_WORKER: 'true',
    GATEHOUSE_WEBHOOKS_SECRET_KEY: key,
    GATEHOUSE_WEBHOOKS_POLL_SECONDS: '0.1',
    GATEHOUSE_WEBHOOKS_TIMEOUT_SECONDS: '1',
    GATEHOUSE_WEBHOOKS_LEASE_SECONDS: '2',
    GATEHOUSE_WEBHOOKS_RETRY_BASE_SECONDS: '0.1',
  };
  receiver = await startReceiver();
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await receiver?.close();
  if (mysqlUrl) {
    const admin = serverConnection(mysqlUrl);
    await admin.raw('DROP DATABASE IF EXISTS ??', [databaseName]);
    await admin.destroy();
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('a server killed in the middle of a delivery', () => {
  // Two servers start as child processes (tsx compiles the app in each): on a busy 2-core machine that alone
  // took most of the default minute, so a longer timeout.
  it('does not lose the event: another server delivers it after the lease expires', { timeout: 180_000 }, async () => {
    const first = await startServer();
    const config = loadConfig({ ...env, NODE_ENV: 'test' });
    const db: Db = createDb(config);
    try {
      const { endpoint } = await webhooks.createEndpoint(db, config, SYSTEM_ACTOR, { url: receiver.url, eventTypes: ['user.created'], enabled: true, description: '' });
      receiver.mode = { kind: 'hang' };
      const arrived = receiver.nextRequest();
      await factories(db, config).makeUser({ username: 'survivor' });
      const during = await arrived;
      first.kill('SIGKILL');
      await new Promise((resolve) => first.once('exit', resolve));
      expect(JSON.parse(during.body).data.object.name).toBe('survivor');
      const pending = await db('webhook_deliveries').where({ endpoint_id: endpoint.id }).first();
      expect(pending.status).toBe('pending');

      receiver.mode = { kind: 'ok' };
      const again = receiver.nextRequest();
      await startServer();
      const redelivered = await again;
      expect(redelivered.headers['webhook-id']).toBe(during.headers['webhook-id']);
      expect(JSON.parse(redelivered.body).data.object.name).toBe('survivor');
      // The lease had to expire first: the second server did not deliver while the first held it.
      expect(redelivered.at - during.at).toBeGreaterThanOrEqual(1500);
      for (let i = 0; i < 50; i++) {
        const d = await db('webhook_deliveries').where({ endpoint_id: endpoint.id }).first();
        if (d.status === 'delivered') return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error('the delivery was not recorded as delivered');
    } finally {
      await db.destroy();
    }
  });
});
