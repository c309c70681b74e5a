import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from '../src/cli/args';
import { SYSTEM_ACTOR } from '../src/audit/service';
import * as users from '../src/users/service';
import * as webhooks from '../src/webhooks/service';
import { invalidateSubscriptions } from '../src/webhooks/outbox';
import { createWorker } from '../src/webhooks/worker';
import { benchDatabase, summarize, writeResult } from './support';

/**
 * Webhooks: (1) what the outbox adds to a change — deactivating and reactivating a user with no endpoint
 * subscribed, then with one; (2) delivery throughput of one server's worker to a local receiver that answers
 * at once, beside the floor: the same number of POSTs from one client with nothing else to do.
 *   npm run bench:webhooks -- --events 2000 --changes 300
 */
const args = parseArgs();
const events = Number(args.events ?? 2000);
const changes = Number(args.changes ?? 300);
const { config, db, dialect, cleanup } = await benchDatabase('webhooks', 10);

let received = 0;
const receiver = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    received++;
    res.writeHead(204).end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

const victim = (await db('users').whereNot({ username_lower: 'admin' }).where({ status: 'active' }).first('id')).id as number;
async function timeChanges(n: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await users.setStatus(db, SYSTEM_ACTOR, victim, i % 2 ? 'active' : 'deactivated');
    samples.push(performance.now() - t0);
  }
  if (n % 2) await users.setStatus(db, SYSTEM_ACTOR, victim, 'active');
  return samples;
}

await db('webhook_deliveries').delete();
await db('webhook_endpoints').delete();
invalidateSubscriptions(db);
const unsubscribed = summarize(await timeChanges(changes));
const { endpoint } = await webhooks.createEndpoint(db, config, SYSTEM_ACTOR, { url, eventTypes: ['user.deactivated', 'user.reactivated'], enabled: false, description: 'bench' });
await webhooks.updateEndpoint(db, config, SYSTEM_ACTOR, endpoint.id, { url, eventTypes: ['user.deactivated', 'user.reactivated'], enabled: true, description: 'bench' });
const subscribed = summarize(await timeChanges(changes));

// Queue `events` events, then time the worker delivering them all.
await db('webhook_deliveries').delete();
for (let i = 0; i < events; i++) await users.setStatus(db, SYSTEM_ACTOR, victim, i % 2 ? 'active' : 'deactivated');
if (events % 2) await users.setStatus(db, SYSTEM_ACTOR, victim, 'active');
const queued = Number((await db('webhook_deliveries').where({ status: 'pending' }).count({ n: '*' }).first())!.n);
received = 0;
const worker = createWorker(db, config);
const t0 = performance.now();
while (Number((await db('webhook_deliveries').where({ status: 'pending' }).count({ n: '*' }).first())!.n) > 0) await worker.runOnce();
const deliverySeconds = (performance.now() - t0) / 1000;

// The floor: the same POSTs, one after another, from a bare client.
received = 0;
const agent = new http.Agent({ keepAlive: false });
const f0 = performance.now();
for (let i = 0; i < queued; i++) {
  await new Promise<void>((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end('{"type":"floor"}');
  });
}
const floorSeconds = (performance.now() - f0) / 1000;

const result = {
  database: dialect,
  changes,
  events: queued,
  results: {
    'a user change, no endpoint subscribed (ms)': unsubscribed,
    'a user change, one endpoint subscribed (ms)': subscribed,
    'worker: events delivered per second (one endpoint, in order)': +(queued / deliverySeconds).toFixed(1),
    'floor: bare sequential POSTs per second': +(queued / floorSeconds).toFixed(1),
  },
};
console.log(JSON.stringify(result, null, 2));
console.log(`written to ${writeResult(`webhooks-${dialect}`, result)}`);
receiver.close();
await cleanup();
