/**
 * The delivery worker: every server runs one (src/app.ts starts it, graceful shutdown stops it), and they
 * share the outbox in the database.
 *
 * - One server at a time delivers an endpoint's events: it takes the endpoint's lease (a conditional UPDATE
 *   that only one server wins, src/webhooks/repo.ts), delivers the queue's head, then the next… while it
 *   renews the lease, and releases it when the queue is empty or the head must wait for its retry. So the
 *   events of an endpoint leave in order, whichever servers are running.
 * - At least once: a delivery is marked done only after the receiver answered 2xx. A server killed in the
 *   middle holds its lease until it expires (GATEHOUSE_WEBHOOKS_LEASE_SECONDS, longer than the request
 *   timeout); another server then takes the lease and sends the event again.
 * - Each request is signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature:
 *   v1,<base64 HMAC-SHA256 of "id.timestamp.body">`) by the `standardwebhooks` package, the scheme's reference
 *   implementation, so receivers can verify with any of its libraries.
 * - A failure (no answer within the timeout, a non-2xx status, a refused address) is retried after an
 *   exponential backoff with jitter; the head of the queue waits, and the events behind it wait too (order
 *   first). After GATEHOUSE_WEBHOOKS_MAX_ATTEMPTS the event is marked failed (redeliverable) and the queue
 *   moves on. After GATEHOUSE_WEBHOOKS_FAILING_AFTER consecutive failures the endpoint shows as failing until
 *   a delivery succeeds.
 */
import http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { Config, WebhookConfig } from '../config';
import type { Db } from '../db/connect';
import { transaction } from '../db/transaction';
import type { Logger } from '../ops/logger';
import * as repo from './repo';
import type { Delivery, Endpoint } from './repo';
import { sealingKey } from './secrets';
import { unseal } from '../crypto/seal';
import { guardedLookup, literalRefusal } from './targets';

/** Events delivered under one lease before it is released, so one busy endpoint cannot hold a server forever. */
const BATCH = 100;
/** Pending events read at once from an endpoint's queue. */
const READ_AHEAD = 20;
/** Endpoints looked at per round. */
const ENDPOINTS_PER_ROUND = 20;
/** Endpoints delivered at the same time by one server. */
const PARALLEL = 4;
/** Stored response text (for the log) is cut to this. */
const ERROR_TEXT = 300;

export interface AttemptResult {
  ok: boolean;
  statusCode: number | null;
  error: string | null;
}

/** The wait before the next attempt after `attempts` failed ones: exponential, with full jitter above half. */
export function retryDelay(config: Pick<WebhookConfig, 'retryBaseMs' | 'retryMaxMs'>, attempts: number, random = Math.random()): number {
  const ceiling = Math.min(config.retryMaxMs, config.retryBaseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(ceiling / 2 + (random * ceiling) / 2);
}

/** Posts one signed event; never throws. */
export async function post(config: WebhookConfig, endpoint: Endpoint, secret: string, delivery: Delivery, now = new Date()): Promise<AttemptResult> {
  let url: URL;
  try {
    url = new URL(endpoint.url);
  } catch {
    return { ok: false, statusCode: null, error: 'The endpoint URL is not valid.' };
  }
  const literal = literalRefusal(url, config);
  if (literal) return { ok: false, statusCode: null, error: literal };
  const body = Buffer.from(delivery.payload, 'utf8');
  const signature = new Webhook(secret).sign(delivery.messageId, now, body);
  const headers = {
    'content-type': 'application/json',
    'content-length': String(body.length),
    'user-agent': 'Gatehouse-Webhooks/1',
    'webhook-id': delivery.messageId,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': signature,
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<AttemptResult>((resolve) => {
    let settled = false;
    const done = (r: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = client.request(url, { method: 'POST', headers, lookup: guardedLookup(config), agent: false }, (res) => {
      const status = res.statusCode ?? 0;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < ERROR_TEXT) text += chunk;
      });
      res.on('end', () => {
        if (status >= 200 && status < 300) return done({ ok: true, statusCode: status, error: null });
        const why = status >= 300 && status < 400 ? 'Redirects are not followed: register the final URL.' : text.trim().slice(0, ERROR_TEXT) || `HTTP ${status}`;
        done({ ok: false, statusCode: status, error: why });
      });
      res.on('error', (e) => done({ ok: false, statusCode: status, error: e.message }));
    });
    const timer = setTimeout(() => {
      req.destroy();
      done({ ok: false, statusCode: null, error: `No answer within ${config.timeoutMs / 1000} s.` });
    }, config.timeoutMs);
    req.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, statusCode: null, error: e.code === 'ECONNREFUSED' ? 'Connection refused.' : e.message }));
    req.end(body);
  });
}

export interface WebhookWorker {
  /** This server's name in leases. */
  readonly id: string;
  /** Delivers what is due now (tests call it directly); resolves when the round is over. */
  runOnce(): Promise<number>;
  /** Polls on a timer until stopped. */
  start(): void;
  /** Stops polling and waits for the deliveries in flight (each bounded by the request timeout). */
  stop(): Promise<void>;
}

export function createWorker(db: Db, config: Config, logger?: Logger): WebhookWorker {
  const wh = config.webhooks;
  const id = `${process.pid}-${randomBytes(6).toString('hex')}`;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let polling = false;
  let stopping = false;
  let rounds = 0;

  async function finish(endpoint: Endpoint, delivery: Delivery, result: AttemptResult, at: number): Promise<Endpoint> {
    const attempts = delivery.attempts + 1;
    const status = result.ok ? 'delivered' : attempts >= wh.maxAttempts ? 'failed' : 'pending';
    const failures = result.ok ? 0 : endpoint.consecutiveFailures + 1;
    const health = {
      consecutiveFailures: failures,
      failingSince: result.ok ? null : (endpoint.failingSince ?? (failures >= wh.failingAfter ? at : null)),
      lastError: result.ok ? endpoint.lastError : result.error,
    };
    await transaction(db, async (trx) => {
      await repo.recordAttempt(trx, delivery, { status, statusCode: result.statusCode, error: result.error, at, nextAttemptAt: status === 'pending' ? at + retryDelay(wh, attempts) : at });
      await repo.recordEndpointHealth(trx, endpoint.id, health);
    });
    if (!result.ok) logger?.warn({ webhook: endpoint.id, delivery: delivery.id, attempts, status: result.statusCode }, 'webhook delivery failed');
    return { ...endpoint, ...health };
  }

  /** Delivers the queue of one endpoint while holding its lease; returns how many attempts were made. */
  async function drain(endpointId: number): Promise<number> {
    const token = `${id}-${randomBytes(6).toString('hex')}`;
    if (!(await repo.takeLease(db, endpointId, token, Date.now(), Date.now() + wh.leaseMs))) return 0;
    let attempts = 0;
    try {
      let endpoint = await repo.findEndpoint(db, endpointId);
      if (!endpoint?.enabled) return 0;
      const secret = unseal(await sealingKey(db, config), endpoint.secretSealed);
      let leaseRenewedAt = Date.now();
      queue: while (attempts < BATCH && !stopping) {
        const next = await repo.headOfQueue(db, endpointId, READ_AHEAD);
        if (!next.length) break;
        for (const delivery of next) {
          if (delivery.nextAttemptAt > Date.now() || stopping) break queue;
          // Each post starts with more than a request timeout left on the lease, so no other server can take
          // the queue while it runs. A lease lost meanwhile (expired, taken over) ends the run.
          if (Date.now() - leaseRenewedAt > (wh.leaseMs - wh.timeoutMs) / 2) {
            if (!(await repo.renewLease(db, endpointId, token, Date.now() + wh.leaseMs))) break queue;
            leaseRenewedAt = Date.now();
          }
          const result = await post(wh, endpoint, secret, delivery);
          attempts++;
          endpoint = await finish(endpoint, delivery, result, Date.now());
          if (!result.ok) break queue;
        }
      }
    } finally {
      await repo.releaseLease(db, endpointId, token);
    }
    return attempts;
  }

  async function round(): Promise<number> {
    // Now and then: the log beyond its retention, and rows queued for an endpoint removed meanwhile.
    if (++rounds % 100 === 1) {
      await repo.removeOldDeliveries(db, Date.now() - wh.logRetentionMs);
      await repo.removeOrphanDeliveries(db);
    }
    const ids = await repo.endpointsWithWork(db, Date.now(), ENDPOINTS_PER_ROUND);
    let attempts = 0;
    for (let i = 0; i < ids.length; i += PARALLEL) {
      const results = await Promise.all(
        ids.slice(i, i + PARALLEL).map((endpointId) =>
          drain(endpointId).catch((err: Error) => {
            logger?.error({ webhook: endpointId, err: { message: err.message } }, 'webhook delivery round failed');
            return 0;
          }),
        ),
      );
      attempts += results.reduce((a, b) => a + b, 0);
    }
    return attempts;
  }

  function runOnce(): Promise<number> {
    if (!running) running = round().finally(() => (running = undefined));
    return running;
  }

  function schedule(ms: number) {
    if (!polling) return;
    timer = setTimeout(() => {
      runOnce().then(
        (n) => schedule(n ? 0 : wh.pollMs),
        (err: Error) => {
          logger?.error({ err: { message: err.message } }, 'webhook worker: the database is unavailable');
          schedule(wh.pollMs);
        },
      );
    }, ms);
    timer.unref();
  }

  return {
    id,
    runOnce,
    start() {
      if (polling) return;
      polling = true;
      stopping = false;
      schedule(0);
    },
    async stop() {
      polling = false;
      stopping = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
