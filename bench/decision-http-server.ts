/**
 * One server of `npm run bench:decision-http`, in a process of its own (forked by bench/decision-http.ts, so
 * the load generator does not share its event loop):
 *   --mode app    Gatehouse as `npm start` builds it, on DATABASE_URL; counts every database query it sends
 *                 (knex `query` events) and reports the count over IPC.
 *   --mode floor  the floor: bare Koa, the same JSON body parser, and an answer of the same size as
 *                 Gatehouse's (the sizes come from the parent, measured on the real answers).
 * IPC: the parent sends {type:'reset'} and {type:'stats'}; the child answers {type:'ready', url} once
 * listening and {type:'stats', queries: {request, background}} on request (queries sent while answering a
 * request, and the server's own background queries); {type:'cpu'} gets {type:'cpu', cpu: {user, system}}, the
 * process's CPU time in µs since the last reset.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { bodyParser } from '@koa/bodyparser';
import { parseArgs } from '../src/cli/args';

const args = parseArgs();
const port = Number(args.port ?? 0);

function send(message: unknown): void {
  process.send?.(message);
}

async function listen(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  // Like Node's defaults in production, but keep-alive sockets must outlive a pause between two runs.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** An answer of exactly `bytes` bytes of JSON: a decision-like object padded with a filler string. */
function answerOf(bytes: number): string {
  const base = JSON.stringify({ allowed: true, reason: 'rule', pad: '' });
  return JSON.stringify({ allowed: true, reason: 'rule', pad: 'x'.repeat(Math.max(0, bytes - base.length)) });
}

async function floor(): Promise<string> {
  const single = answerOf(Number(args['single-bytes'] ?? 300));
  const batch = answerOf(Number(args['batch-bytes'] ?? 300_000));
  const app = new Koa();
  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '2mb' }));
  app.use(async (ctx) => {
    const body = ctx.request.body as { checks?: unknown[] } | undefined;
    if (ctx.method !== 'POST' || !body || typeof body !== 'object') {
      ctx.status = 400;
      return;
    }
    ctx.type = 'application/json';
    ctx.body = Array.isArray(body.checks) || Array.isArray((body as { evaluations?: unknown[] }).evaluations) ? batch : single;
  });
  return listen(app.callback());
}

async function gatehouse(): Promise<{ url: string; queries: () => { request: number; background: number; requestQueries: string[] }; reset: () => void }> {
  const { loadConfig } = await import('../src/config');
  const { createDb } = await import('../src/db/connect');
  const { createApp } = await import('../src/app');
  const config = loadConfig(process.env);
  const db = createDb(config);
  // The server's background work is told apart by what it reads and writes: following the change log every
  // 20 ms (`change_log`, now and then the setting `change_log_trimmed_through`), the webhook worker's polls
  // (`webhook_*`) and housekeeping's deletes. With no writes during a run, every other query was sent while
  // answering a request; their texts are reported, so the classification can be checked. (Marking requests
  // with an AsyncLocalStorage instead would slow every promise of the server under test.)
  const counts = { request: 0, background: 0 };
  const requestQueries = new Set<string>();
  db.on('query', (q: { sql?: string; bindings?: unknown[] }) => {
    const sql = q.sql ?? '';
    const background = /\b(change_log|webhook_\w+)\b/.test(sql) || /^delete from/i.test(sql) || (q.bindings ?? []).some((b) => typeof b === 'string' && b.startsWith('change_log'));
    counts[background ? 'background' : 'request']++;
    if (!background && requestQueries.size < 20) requestQueries.add(sql);
  });
  const gate = await createApp(config, { db });
  const url = await listen(gate.app.callback());
  return {
    url,
    queries: () => ({ ...counts, requestQueries: [...requestQueries] }),
    reset: () => {
      Object.assign(counts, { request: 0, background: 0 });
      requestQueries.clear();
    },
  };
}

async function main() {
  if (args.mode === 'floor') {
    send({ type: 'ready', url: await floor() });
    process.on('message', (m: { type?: string }) => {
      if (m?.type === 'reset') send({ type: 'reset' });
      if (m?.type === 'stats') send({ type: 'stats', queries: { request: 0, background: 0, requestQueries: [] } });
    });
    return;
  }
  const app = await gatehouse();
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'reset') {
      app.reset();
      send({ type: 'reset' });
    }
    if (m?.type === 'stats') send({ type: 'stats', queries: app.queries() });
  });
  send({ type: 'ready', url: app.url });
}

process.on('disconnect', () => process.exit(0));
// The process's own CPU time (user and system, µs) since the last reset: CPU per request is comparable
// between the floor and Gatehouse even on a busy machine, where requests per second are not.
let cpuSince = process.cpuUsage();
process.on('message', (m: { type?: string }) => {
  if (m?.type === 'reset') cpuSince = process.cpuUsage();
  if (m?.type === 'cpu') send({ type: 'cpu', cpu: process.cpuUsage(cpuSince) });
});
// A clean exit, so that a CPU profile (--cpu-prof) is written.
process.on('message', (m: { type?: string }) => {
  if (m?.type === 'stop') process.exit(0);
});
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
