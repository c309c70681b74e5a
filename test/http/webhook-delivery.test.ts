/**
 * The delivery worker against a local receiver: events arrive signed (Standard Webhooks, checked with the
 * reference library and with the sample verifier we ship), in order, again after the receiver was down, and
 * once each when two workers share the database.
 */
import { spawn } from 'node:child_process';
import request from 'supertest';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { createTestApp, type TestApp } from '../support/app';
import { startReceiver, type Receiver } from '../support/receiver';
import { loadConfig } from '../../src/config';
import { createWorker } from '../../src/webhooks/worker';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as users from '../../src/users/service';
// @ts-expect-error: a plain ES module without types, shipped for receivers
import { verify as sampleVerify } from '../../examples/webhook-verifier.mjs';

let t: TestApp;
const receivers: Receiver[] = [];
/** Each test has a receiver of its own: events of other tests' endpoints never reach it. */
async function ownReceiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  const defaults = loadConfig({ NODE_ENV: 'test' }).webhooks;
  t = await createTestApp({ webhooks: { ...defaults, retryBaseMs: 40, retryMaxMs: 200, failingAfter: 2, timeoutMs: 2000, leaseMs: 5000 } });
});
afterAll(async () => {
  for (const r of receivers) await r.close();
  await t?.close();
});

/** Runs the app's worker until nothing is waiting for this endpoint (or gives up after a few seconds). */
async function deliverAll(endpointId: number, worker = t.gate.webhooks) {
  for (let i = 0; i < 100; i++) {
    await worker.runOnce();
    const waiting = await t.db('webhook_deliveries').where({ endpoint_id: endpointId, status: 'pending' }).count({ n: '*' });
    if (Number(waiting[0].n) === 0) return;
    await sleep(50);
  }
  throw new Error('events still waiting');
}

function usernameOf(body: string): string {
  return JSON.parse(body).data.object.name;
}

describe('webhook delivery', () => {
  it('sends each event signed, in the order of the changes', async () => {
    const receiver = await ownReceiver();
    const { endpoint, secret } = await t.make.makeWebhook(receiver.url, ['user.created', 'user.deactivated']);
    const names = ['ord-a', 'ord-b', 'ord-c', 'ord-d', 'ord-e'];
    for (const n of names) await t.makeUser({ username: n });
    await users.setStatus(t.db, SYSTEM_ACTOR, await t.make.userId('ord-b'), 'deactivated');
    await deliverAll(endpoint.id);

    expect(receiver.received.map((r) => `${JSON.parse(r.body).type} ${usernameOf(r.body)}`)).toEqual([...names.map((n) => `user.created ${n}`), 'user.deactivated ord-b']);
    const wh = new Webhook(secret);
    for (const r of receiver.received) {
      expect(r.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/=]+$/);
      expect(() => wh.verify(r.body, r.headers)).not.toThrow();
      expect(sampleVerify(secret, r.headers, Buffer.from(r.body)).type).toMatch(/^user\./);
    }
    const first = JSON.parse(receiver.received[0].body);
    expect(first).toMatchObject({ type: 'user.created', data: { object: { type: 'user', name: 'ord-a' }, actor: { username: 'system' }, action: 'user.create' } });
    const log = await t.db('webhook_deliveries').where({ endpoint_id: endpoint.id });
    expect(log.every((d: { status: string; attempts: number; last_status_code: number }) => d.status === 'delivered' && d.attempts === 1 && d.last_status_code === 204)).toBe(true);
  });

  it('the sample verifier refuses a wrong signature, a tampered body and another secret', async () => {
    const receiver = await ownReceiver();
    const { endpoint, secret } = await t.make.makeWebhook(receiver.url, ['user.created']);
    await t.makeUser({ username: 'verify-me' });
    await deliverAll(endpoint.id);
    const [r] = receiver.received;
    expect(() => sampleVerify(secret, r.headers, r.body)).not.toThrow();
    expect(() => sampleVerify(secret, r.headers, r.body.replace('verify-me', 'verify-you'))).toThrow(/signature/);
    expect(() => sampleVerify(secret, { ...r.headers, 'webhook-signature': 'v1,AAAA' }, r.body)).toThrow(/signature/);
    const other = (await t.make.makeWebhook(receiver.url, ['user.created'])).secret;
    expect(() => sampleVerify(other, r.headers, r.body)).toThrow(/signature/);
    expect(() => sampleVerify(secret, { ...r.headers, 'webhook-timestamp': String(Math.floor(Date.now() / 1000) - 3600) }, r.body)).toThrow(/timestamp/);
  });

  it('retries with backoff while the receiver is down, shows the endpoint failing, then delivers in order', async () => {
    const receiver = await ownReceiver();
    const api = await t.token((await t.make.makeUser({ username: 'hook-admin', role: 'superuser' })).username);
    const { endpoint } = await t.make.makeWebhook(receiver.url, ['user.created']);
    await receiver.down();
    try {
      await t.makeUser({ username: 'down-1' });
      await t.makeUser({ username: 'down-2' });
      for (let i = 0; i < 3; i++) {
        await t.gate.webhooks.runOnce();
        await sleep(250);
      }
      const head = await t.db('webhook_deliveries').where({ endpoint_id: endpoint.id }).orderBy('id').first();
      expect(head.status).toBe('pending');
      expect(head.attempts).toBeGreaterThanOrEqual(2);
      expect(head.last_error).toMatch(/refused/i);
      // The second event waited behind the first: never attempted while the first was failing.
      const second = await t.db('webhook_deliveries').where({ endpoint_id: endpoint.id }).orderBy('id', 'desc').first();
      expect(second.attempts).toBe(0);
      const row = await t.db('webhook_endpoints').where({ id: endpoint.id }).first();
      expect(row.failing_since).not.toBeNull();
      const shown = await request(t.server).get(`/api/v1/webhooks/${endpoint.id}`).set('Authorization', `Bearer ${api}`);
      expect(shown.body).toMatchObject({ failing: true, pending: 2 });
      const metrics = (await request(t.server).get('/metrics')).text;
      expect(Number(/^gatehouse_webhook_events_pending (\d+)$/m.exec(metrics)![1])).toBeGreaterThanOrEqual(2);
      expect(Number(/^gatehouse_webhook_endpoints_failing (\d+)$/m.exec(metrics)![1])).toBeGreaterThanOrEqual(1);
    } finally {
      await receiver.up();
    }
    await deliverAll(endpoint.id);
    expect(receiver.received.map((r) => usernameOf(r.body))).toEqual(['down-1', 'down-2']);
    const row = await t.db('webhook_endpoints').where({ id: endpoint.id }).first();
    expect(row.failing_since).toBeNull();
    expect(Number(row.consecutive_failures)).toBe(0);
  });

  it('marks an event failed after the last attempt and moves on; an error status counts as a failure', async () => {
    const defaults = loadConfig({ NODE_ENV: 'test' }).webhooks;
    const worker = createWorker(t.db, { ...t.config, webhooks: { ...defaults, retryBaseMs: 10, retryMaxMs: 20, maxAttempts: 2 } });
    const receiver = await ownReceiver();
    const { endpoint } = await t.make.makeWebhook(receiver.url, ['user.created']);
    receiver.mode = { kind: 'status', status: 500 };
    await t.makeUser({ username: 'gives-up' });
    try {
      for (let i = 0; i < 4; i++) {
        await worker.runOnce();
        await sleep(40);
      }
    } finally {
      receiver.mode = { kind: 'ok' };
    }
    const d = await t.db('webhook_deliveries').where({ endpoint_id: endpoint.id }).first();
    expect(d).toMatchObject({ status: 'failed', attempts: 2, last_status_code: 500 });
    await t.makeUser({ username: 'after-failure' });
    await deliverAll(endpoint.id, worker);
    expect(usernameOf(receiver.received.at(-1)!.body)).toBe('after-failure');
  });

  it('keeps the delivery log for its retention period only, and never drops an event still to send', async () => {
    const { endpoint } = await t.make.makeWebhook('http://127.0.0.1:9/retention', ['user.created']);
    await t.makeUser({ username: 'old-news' });
    await t.makeUser({ username: 'still-waiting' });
    // Disabled, so that this round only tidies the log.
    await t.db('webhook_endpoints').where({ id: endpoint.id }).update({ enabled: false });
    const [old, waiting] = await t.db('webhook_deliveries').where({ endpoint_id: endpoint.id }).orderBy('id');
    const longAgo = Date.now() - t.config.webhooks.logRetentionMs - 60_000;
    await t.db('webhook_deliveries').where({ id: old.id }).update({ status: 'delivered', created_at: longAgo });
    await t.db('webhook_deliveries').where({ id: waiting.id }).update({ created_at: longAgo });
    const worker = createWorker(t.db, t.config);
    await worker.runOnce();
    expect((await t.db('webhook_deliveries').where({ endpoint_id: endpoint.id })).map((d: { id: number }) => d.id)).toEqual([waiting.id]);
  });

  it('two workers sharing the database deliver each event once, in order', async () => {
    const receiver = await ownReceiver();
    const { endpoint } = await t.make.makeWebhook(receiver.url, ['user.created']);
    for (let i = 0; i < 12; i++) await t.makeUser({ username: `pair-${String(i).padStart(2, '0')}` });
    const a = createWorker(t.db, t.config);
    const b = createWorker(t.db, t.config);
    for (let i = 0; i < 50; i++) {
      await Promise.all([a.runOnce(), b.runOnce(), a.runOnce(), b.runOnce()]);
      const waiting = await t.db('webhook_deliveries').where({ endpoint_id: endpoint.id, status: 'pending' }).count({ n: '*' });
      if (Number(waiting[0].n) === 0) break;
    }
    const ids = receiver.received.map((r) => r.headers['webhook-id']);
    expect(new Set(ids).size).toBe(12);
    expect(ids.length).toBe(12);
    expect(receiver.received.map((r) => usernameOf(r.body))).toEqual(Array.from({ length: 12 }, (_, i) => `pair-${String(i).padStart(2, '0')}`));
  });

  it('the sample verifier, run as a receiver, accepts a delivery and answers 401 to a forged one', async () => {
    const { endpoint, secret } = await t.make.makeWebhook('http://127.0.0.1:9/placeholder', ['user.created']);
    const child = spawn(process.execPath, [path.resolve('examples/webhook-verifier.mjs')], { env: { ...process.env, WEBHOOK_SECRET: secret, PORT: '0' } });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stderr.on('data', (d: Buffer) => {
          const m = /127\.0\.0\.1:(\d+)/.exec(d.toString());
          if (m) resolve(Number(m[1]));
        });
        child.on('exit', () => reject(new Error('the verifier exited')));
      });
      const printed: string[] = [];
      child.stdout.on('data', (d: Buffer) => printed.push(...d.toString().trim().split('\n')));
      await t.db('webhook_endpoints').where({ id: endpoint.id }).update({ url: `http://127.0.0.1:${port}/` });
      await t.makeUser({ username: 'verified-user' });
      await deliverAll(endpoint.id);
      const d = await t.db('webhook_deliveries').where({ endpoint_id: endpoint.id }).first();
      expect(d).toMatchObject({ status: 'delivered', last_status_code: 204 });
      await sleep(100);
      expect(printed.map((l) => JSON.parse(l).data.object.name)).toEqual(['verified-user']);

      const forged = await fetch(`http://127.0.0.1:${port}/`, {
        method: 'POST',
        headers: { 'webhook-id': 'msg_forged', 'webhook-timestamp': String(Math.floor(Date.now() / 1000)), 'webhook-signature': `v1,${Buffer.alloc(32).toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'user.removed', data: {} }),
      });
      expect(forged.status).toBe(401);
      expect(printed).toHaveLength(1);
    } finally {
      child.kill();
    }
  });
});
