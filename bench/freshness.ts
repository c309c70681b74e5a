/**
 * How soon a second server reflects a write, without and with the write's consistency token:
 *   npm run bench:freshness [-- --writes 200 --users 2000]
 *
 * On MariaDB (DATABASE_URL, default mysql://root@127.0.0.1:3306/changes_freshness; seed:demo data up to
 * `--users`), two Gatehouse servers run as `npm start` builds them, each in a process of its own with its
 * own connection pool and decision state (bench/decision-http-server.ts): A on port 4101 takes the writes,
 * B on 4102 the decisions. Each round moves one user into or out of a group through A's API (one
 * membership change), then:
 *   - without token: asks B's POST /api/v1/check back to back until the answer reflects the write; the time
 *     from A's response (the write committed) to B's first reflecting answer is one sample;
 *   - with token: one POST /api/v1/check to B carrying A's Gatehouse-Consistency-Token — it must reflect the
 *     write; its latency is one sample.
 * Beside them, the floor: one plain check on B with no write. Prints p50/p99 (ms) of all three; writes
 * bench/results/freshness.json. Goal: p99 without token < 100 ms.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from '../src/cli/args';
import { ROOT_DIR } from '../src/paths';
import { benchDatabase, summarize, writeResult } from './support';

const args = parseArgs();
const WRITES = Number(args.writes ?? 200);
const USERS = Number(args.users ?? 2000);
/** Ports of this bench's servers (the changes helper's range). */
const WRITER_PORT = Number(args['writer-port'] ?? 4101);
const READER_PORT = Number(args['reader-port'] ?? 4102);
const GOAL_P99_MS = 100;

process.env.DATABASE_URL ||= 'mysql://root@127.0.0.1:3306/changes_freshness';
if (!process.env.DATABASE_URL.startsWith('mysql://')) throw new Error('bench:freshness runs on MariaDB/MySQL: set DATABASE_URL=mysql://…');

function startServer(port: number): Promise<{ url: string; child: ChildProcess }> {
  const child = fork(path.join(ROOT_DIR, 'bench', 'decision-http-server.ts'), ['--mode', 'app', '--port', String(port)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  return new Promise((resolve, reject) => {
    child.on('message', (m: { type?: string; url?: string }) => {
      if (m?.type === 'ready') resolve({ url: m.url!, child });
    });
    child.once('exit', (code) => reject(new Error(`a server exited (${code}) before it was ready`)));
  });
}

/** Creates the bench's database when it is missing (a database of its own, never the suite's). */
async function ensureDatabase(url: string): Promise<void> {
  const knexPkg = (await import('knex')).default;
  const { mysqlConnectionFromUrl } = await import('../src/db/connect');
  const { database, ...server } = mysqlConnectionFromUrl(url);
  const admin = ((knexPkg as unknown as { knex?: typeof knexPkg }).knex ?? knexPkg)({ client: 'mysql2', connection: server });
  try {
    await admin.raw('CREATE DATABASE IF NOT EXISTS ?? CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci', [database ?? 'changes_freshness']);
  } finally {
    await admin.destroy();
  }
}

async function main() {
  await ensureDatabase(process.env.DATABASE_URL!);
  const bench = await benchDatabase('freshness', USERS);
  const { db, config } = bench;
  const { createSuperuser } = await import('../src/setup/bootstrap');
  const clientRepo = await import('../src/clients/repo');
  const clientService = await import('../src/clients/service');
  const groupRepo = await import('../src/groups/repo');
  const groupService = await import('../src/groups/service');
  const usersRepo = await import('../src/users/repo');
  const { SYSTEM_ACTOR } = await import('../src/audit/service');

  // A Superuser's machine client (decisions + write, no rate limit), a group with one rule, another user to move.
  await createSuperuser(db, config, { username: 'fresh-owner', password: 'bench-password-123', email: 'fresh-owner@example.com' });
  const client =
    (await clientRepo.findByName(db, 'bench-freshness')) ??
    (await clientService.createClient(db, SYSTEM_ACTOR, { name: 'bench-freshness', owner: 'fresh-owner', scopes: ['decisions', 'read', 'write'], description: 'npm run bench:freshness' }));
  const { token } = await clientService.issueToken(db, SYSTEM_ACTOR, client.id, { name: `bench ${new Date().toISOString()}` });
  const group = (await groupRepo.findByName(db, 'Freshness bench')) ?? (await groupService.createGroup(db, SYSTEM_ACTOR, { name: 'Freshness bench', description: 'npm run bench:freshness' }));
  const root = (await db('workspaces').whereNull('parent_id').orderBy('id').first('id', 'name')) as { id: number; name: string };
  await createSuperuser(db, config, { username: 'fresh-target', password: 'bench-password-123', email: 'fresh-target@example.com' });
  const target = (await usersRepo.findByUsername(db, 'fresh-target'))!;
  await bench.cleanup();

  const writer = await startServer(WRITER_PORT);
  const reader = await startServer(READER_PORT);
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const question = JSON.stringify({ user: target.username, domain: 'Comments', operation: 'R', workspace: root.id });
  const ask = async (consistency?: string) => {
    const res = await fetch(`${reader.url}/api/v1/check`, { method: 'POST', headers: consistency ? { ...headers, 'gatehouse-consistency-token': consistency } : headers, body: question });
    if (res.status !== 200) throw new Error(`check answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as { allowed: boolean };
  };
  const move = async (add: boolean) => {
    const res = await fetch(`${writer.url}/api/v1/groups/${encodeURIComponent('Freshness bench')}/members`, {
      method: 'POST',
      headers,
      body: JSON.stringify(add ? { add: [target.username] } : { remove: [target.username] }),
    });
    if (res.status !== 200) throw new Error(`the write answered ${res.status}: ${await res.text()}`);
    return res.headers.get('gatehouse-consistency-token')!;
  };

  try {
    // The group's one rule (a second run finds it there: 422 duplicate).
    await fetch(`${writer.url}/api/v1/groups/${encodeURIComponent('Freshness bench')}/permissions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ effect: 'allow', domain: 'Comments', workspace: `/${root.name}`, transitive: true, operations: 'R', priority: 'high' }),
    });
    // Start from "not a member" on both servers.
    const start = await move(false);
    await ask(start);
    // The floor: one plain check on B, no write involved — what a single answer costs on this machine now.
    const floor: number[] = [];
    for (let i = 0; i < WRITES; i++) {
      const t0 = performance.now();
      await ask();
      floor.push(performance.now() - t0);
    }
    const withoutToken: number[] = [];
    const withToken: number[] = [];
    let polls = 0;
    let wrongWithToken = 0;
    for (let i = 0; i < WRITES; i++) {
      const member = i % 2 === 0;
      // Without token: the write, then B asked until it reflects it.
      await move(member);
      const committed = performance.now();
      for (;;) {
        polls++;
        if ((await ask()).allowed === member) break;
        if (performance.now() - committed > 10_000) throw new Error('B did not reflect a write within 10 s');
      }
      withoutToken.push(performance.now() - committed);
      // With token: the opposite move, then one question carrying its token.
      const consistency = await move(!member);
      const t0 = performance.now();
      if ((await ask(consistency)).allowed !== !member) wrongWithToken++;
      withToken.push(performance.now() - t0);
    }
    const result = {
      database: 'mariadb',
      servers: 2,
      users: USERS,
      writes: WRITES,
      change: 'one membership (POST /api/v1/groups/:name/members on A), decision POST /api/v1/check on B',
      withoutToken: { ...summarize(withoutToken), checksAsked: polls, meaning: 'ms from the write’s response on A to the first reflecting answer on B' },
      withToken: { ...summarize(withToken), stale: wrongWithToken, meaning: 'ms for one check on B carrying A’s consistency token (always reflecting)' },
      floor: { ...summarize(floor), meaning: 'ms for one plain check on B (no write): the cost of asking at all' },
      goal: { p99WithoutTokenMs: GOAL_P99_MS, met: summarize(withoutToken).p99 < GOAL_P99_MS },
    };
    console.log(`without token: p50 ${result.withoutToken.p50} ms, p99 ${result.withoutToken.p99} ms, max ${result.withoutToken.max} ms (${WRITES} writes, goal p99 < ${GOAL_P99_MS} ms: ${result.goal.met ? 'met' : 'NOT met'})`);
    console.log(`floor (plain check on B): p50 ${result.floor.p50} ms, p99 ${result.floor.p99} ms`);
    console.log(`with token:    p50 ${result.withToken.p50} ms, p99 ${result.withToken.p99} ms, stale answers: ${wrongWithToken}`);
    console.log(`wrote ${writeResult('freshness', result)}`);
  } finally {
    writer.child.kill();
    reader.child.kill();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
