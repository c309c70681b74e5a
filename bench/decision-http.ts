/**
 * The decision service over HTTP, side by side with its floor, in one run:
 *   npm run bench:decision-http [-- --seconds 10 --connections 32 --users 100000 --batch 1000]
 *
 * On MariaDB (DATABASE_URL, default mysql://root@127.0.0.1:3306/clients_bench) holding seed:demo data with
 * 100,000 users (5,000 groups, 10,000 workspaces, 10,000 domain permissions; seeded when missing). Gatehouse
 * runs as `npm start` builds it, in a process of its own; so does the floor: bare Koa with the same JSON body
 * parser answering a body of the same size as Gatehouse's answer. The same load generator (autocannon, in
 * this process) with the same connection count drives each target for the same time:
 *   floor (single)          POST one question, answer the size of a /check answer
 *   POST /api/v1/check      one question
 *   POST /access/v1/evaluation   one AuthZEN question (when the route exists)
 *   floor (batch)           POST 1,000 questions, answer the size of a batch answer
 *   POST /api/v1/check/batch     1,000 questions
 *   POST /access/v1/evaluations  1,000 AuthZEN questions (when the route exists)
 * The callers are a machine client with the `decisions` scope (no rate limit). Questions are random users,
 * domains, operations and workspaces of the data set. The server counts its database queries (knex query
 * events) during each run, those sent while answering a request apart from its background work (following
 * the change log every 20 ms): queries per decision is the first count over the decisions answered; the
 * background is reported as queries per second, independent of the load.
 * Prints req/s, decisions/s, p50/p99 and the ratio to the floor; writes bench/results/decision-http.json.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import autocannon from 'autocannon';
import { parseArgs } from '../src/cli/args';
import { ROOT_DIR } from '../src/paths';
import { benchDatabase, mulberry32, writeResult } from './support';

const args = parseArgs();
const SECONDS = Number(args.seconds ?? 10);
const CONNECTIONS = Number(args.connections ?? 32);
const USERS = Number(args.users ?? 100_000);
const BATCH = Number(args.batch ?? 1000);
const WARMUP_SECONDS = Number(args.warmup ?? 2);
/** Ports of this bench's servers (the clients helper's range). */
const APP_PORT = Number(args['app-port'] ?? 4201);
/** `--profile DIR`: Gatehouse's process writes a V8 CPU profile there (for finding what a decision costs). */
const PROFILE_DIR = typeof args.profile === 'string' ? path.resolve(args.profile) : undefined;
/** `--only check,batch`: measure only targets whose path ends with one of these (floors always run). */
const ONLY = typeof args.only === 'string' ? args.only.split(',') : undefined;
const FLOOR_PORT = Number(args['floor-port'] ?? 4202);

process.env.DATABASE_URL ||= 'mysql://root@127.0.0.1:3306/clients_bench';
if (!process.env.DATABASE_URL.startsWith('mysql://')) throw new Error('bench:decision-http runs on MariaDB/MySQL: set DATABASE_URL=mysql://…');

// ------------------------------------------------------------------------------------------------ servers

interface Server {
  url: string;
  child: ChildProcess;
  /** Zeroes the server's query counter. */
  reset(): Promise<void>;
  /** Database queries since the last reset: sent while answering requests, and in the background. */
  queries(): Promise<{ request: number; background: number; requestQueries: string[] }>;
  /** The server process's CPU time (µs, user and system) since the last reset. */
  cpu(): Promise<{ user: number; system: number }>;
  stop(): void;
}

function reply<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type?: string }) => {
      if (m?.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m as T);
    };
    const onExit = (code: number | null) => reject(new Error(`the server exited (${code}) before answering "${type}"`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function startServer(mode: 'app' | 'floor', port: number, extra: string[] = []): Promise<Server> {
  const child = fork(path.join(ROOT_DIR, 'bench', 'decision-http-server.ts'), ['--mode', mode, '--port', String(port), ...extra], {
    execArgv: ['--import', 'tsx', ...(mode === 'app' && PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [])],
    // The access log goes where `npm start` would send it, except that nobody reads it here.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  const { url } = await reply<{ url: string }>(child, 'ready');
  return {
    url,
    child,
    async reset() {
      child.send({ type: 'reset' });
      await reply(child, 'reset');
    },
    async queries() {
      child.send({ type: 'stats' });
      return (await reply<{ queries: { request: number; background: number; requestQueries: string[] } }>(child, 'stats')).queries;
    },
    async cpu() {
      child.send({ type: 'cpu' });
      return (await reply<{ cpu: { user: number; system: number } }>(child, 'cpu')).cpu;
    },
    stop: () => child.send({ type: 'stop' }),
  };
}

// ---------------------------------------------------------------------------------------------- questions

interface Question {
  user: string;
  domain: string;
  domainKey: string;
  operation: 'R' | 'M' | 'C' | 'D';
  workspace: string;
  level?: number;
}

const ACTION: Record<Question['operation'], string> = { R: 'read', M: 'modify', C: 'create', D: 'delete' };

/** The same question in the AuthZEN mapping (PRODUCT.md section 6). */
const evaluationOf = (q: Question) => ({
  subject: { type: 'user', id: q.user },
  action: { name: ACTION[q.operation] },
  resource: { type: q.domainKey, id: q.workspace, ...(q.level === undefined ? {} : { properties: { level: q.level } }) },
});
const checkOf = (q: Question) => ({ user: q.user, domain: q.domain, operation: q.operation, workspace: q.workspace, ...(q.level === undefined ? {} : { level: q.level }) });

async function questions(db: import('../src/db/connect').Db, count: number): Promise<Question[]> {
  const random = mulberry32(20261201);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(random() * a.length)];
  const users: string[] = (await db('users').where({ status: 'active' }).orderByRaw('id').limit(USERS).pluck('username')).filter((u: string) => !u.startsWith('bench-'));
  const domains: Array<{ name: string; key: string; uses_levels: unknown }> = await db('domains').select('name', 'key', 'uses_levels');
  const rows: Array<{ id: number; name: string; parent_id: number | null }> = await db('workspaces').select('id', 'name', 'parent_id');
  const byId = new Map(rows.map((r) => [r.id, r]));
  const pathOf = (id: number): string => {
    const parts: string[] = [];
    for (let w = byId.get(id); w; w = w.parent_id === null ? undefined : byId.get(w.parent_id)) parts.unshift(w.name);
    return `/${parts.join('/')}`;
  };
  const paths = rows.map((r) => pathOf(r.id));
  return Array.from({ length: count }, () => {
    const d = pick(domains);
    const usesLevels = d.uses_levels === true || d.uses_levels === 1;
    return { user: pick(users), domain: d.name, domainKey: d.key, operation: pick(['R', 'M', 'C', 'D'] as const), workspace: pick(paths), ...(usesLevels ? { level: Math.floor(random() * 5) } : {}) };
  });
}

// ------------------------------------------------------------------------------------------------- runs

interface Target {
  name: string;
  url: string;
  path: string;
  /** Decisions per request. */
  items: number;
  bodies: string[];
  server: Server;
}

interface Measured {
  name: string;
  path: string;
  decisionsPerRequest: number;
  requestsPerSecond: number;
  decisionsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  non2xx: number;
  errors: number;
  queriesPerDecision: number | null;
  /** The server's background queries (following the change log) per second during the run. */
  backgroundQueriesPerSecond: number | null;
  /** The server's CPU time per request (µs): in the process itself (user) and in the kernel for it (system). */
  cpuMicrosPerRequest: { user: number; system: number };
  /** The distinct SQL of the queries counted as sent while answering (empty when there were none). */
  requestQueries?: string[];
  ratioToFloor?: number;
  /** The floor's server CPU per request over this target's: the share of the floor's speed this target would reach where the server's CPU is what limits both. */
  cpuRatioToFloor?: number;
}

function load(target: Target, headers: Record<string, string>, seconds: number) {
  let i = 0;
  return autocannon({
    url: target.url,
    connections: CONNECTIONS,
    duration: seconds,
    // 32 batches of 1,000 queue behind each other on one process: give an answer time rather than count it lost.
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: target.path,
        headers: { 'content-type': 'application/json', ...headers },
        setupRequest: (req) => ({ ...req, body: target.bodies[i++ % target.bodies.length] }),
      },
    ],
  });
}

async function measure(target: Target, headers: Record<string, string>): Promise<Measured> {
  await load(target, headers, WARMUP_SECONDS);
  await target.server.reset();
  const r = await load(target, headers, SECONDS);
  const queries = await target.server.queries();
  const cpu = await target.server.cpu();
  const ok = r['2xx'];
  const decisions = ok * target.items;
  const m: Measured = {
    name: target.name,
    path: target.path,
    decisionsPerRequest: target.items,
    requestsPerSecond: Math.round(ok / SECONDS),
    decisionsPerSecond: Math.round(decisions / SECONDS),
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
    queriesPerDecision: target.name.startsWith('floor') ? null : decisions ? +(queries.request / decisions).toFixed(4) : null,
    backgroundQueriesPerSecond: target.name.startsWith('floor') ? null : Math.round(queries.background / SECONDS),
    cpuMicrosPerRequest: { user: Math.round(cpu.user / r.requests.total), system: Math.round(cpu.system / r.requests.total) },
    ...(queries.requestQueries.length ? { requestQueries: queries.requestQueries } : {}),
  };
  console.log(`  ${m.name}: ${m.requestsPerSecond.toLocaleString('en-US')} req/s, ${m.decisionsPerSecond.toLocaleString('en-US')} decisions/s, p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms, server CPU ${m.cpuMicrosPerRequest.user} µs user + ${m.cpuMicrosPerRequest.system} µs system per request${m.non2xx || m.errors ? `, ${m.non2xx} non-2xx, ${m.errors} errors` : ''}`);
  if (m.non2xx || m.errors) throw new Error(`${m.name}: ${m.non2xx} answers were not 2xx and ${m.errors} failed — the figures would not be decisions.`);
  return m;
}

/** One request, its status and body size (to size the floor's answers and to see whether a route exists). */
async function probe(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; bytes: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  return { status: res.status, bytes: Buffer.byteLength(text), text };
}

/**
 * What the request handling of one batch costs in this process, free of the network and the database: the
 * JSON body parsed, judged by the operation's schema (Joi) and by its precompiled canonical check, and the
 * answer serialised. Medians of repeated runs, in milliseconds.
 */
async function batchStages(body: string, answer: string) {
  const { operations } = await import('../src/access/api');
  const { checkStrict } = await import('../src/http/forms');
  const op = operations.find((o) => o.operationId === 'checkBatch')! as unknown as { body: import('joi').Schema; canonicalBody: (b: unknown) => boolean };
  const parsedAnswer = JSON.parse(answer);
  const median = (runs: number, work: () => unknown) => {
    for (let i = 0; i < 3; i++) work();
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      work();
      times.push(performance.now() - t0);
    }
    return +times.sort((a, b) => a - b)[Math.floor(runs / 2)].toFixed(3);
  };
  return {
    parseJson: median(50, () => JSON.parse(body)),
    schemaValidation: median(20, () => checkStrict(op.body, JSON.parse(body), { noDefaults: true })) - median(50, () => JSON.parse(body)),
    canonicalCheck: median(50, () => op.canonicalBody(JSON.parse(body))) - median(50, () => JSON.parse(body)),
    serializeAnswer: median(50, () => JSON.stringify(parsedAnswer)),
  };
}

async function main() {
  const bench = await benchDatabase('decision-http', USERS);
  const { db, config } = bench;
  const counts = {
    users: Number((await db('users').count({ n: '*' }).first())?.n),
    groups: Number((await db('groups').count({ n: '*' }).first())?.n),
    workspaces: Number((await db('workspaces').count({ n: '*' }).first())?.n),
    permissions: Number((await db('domain_permissions').count({ n: '*' }).first())?.n),
  };
  console.log(`data: ${Object.entries(counts).map(([k, v]) => `${v.toLocaleString('en-US')} ${k}`).join(', ')}`);

  // The caller: a machine client with the `decisions` scope, owned by a Superuser.
  const { createSuperuser } = await import('../src/setup/bootstrap');
  const clientRepo = await import('../src/clients/repo');
  const clientService = await import('../src/clients/service');
  const { SYSTEM_ACTOR } = await import('../src/audit/service');
  await createSuperuser(db, config, { username: 'bench-owner', password: 'bench-password-123', email: 'bench-owner@example.com' });
  const client = (await clientRepo.findByName(db, 'bench-decisions')) ?? (await clientService.createClient(db, SYSTEM_ACTOR, { name: 'bench-decisions', owner: 'bench-owner', scopes: ['decisions'], description: 'npm run bench:decision-http' }));
  const { token } = await clientService.issueToken(db, SYSTEM_ACTOR, client.id, { name: `bench ${new Date().toISOString()}` });
  const auth = { authorization: `Bearer ${token}` };

  const asked = await questions(db, 2000);
  await bench.cleanup();

  const app = await startServer('app', APP_PORT);
  const servers: Server[] = [app];
  try {
    const singleBodies = asked.map((q) => JSON.stringify(checkOf(q)));
    const batchBodies = Array.from({ length: 8 }, (_, b) => JSON.stringify({ checks: Array.from({ length: BATCH }, (_, i) => checkOf(asked[(b * 97 + i) % asked.length])) }));
    const evaluationBodies = asked.map((q) => JSON.stringify(evaluationOf(q)));
    const evaluationsBodies = Array.from({ length: 8 }, (_, b) => JSON.stringify({ evaluations: Array.from({ length: BATCH }, (_, i) => evaluationOf(asked[(b * 97 + i) % asked.length])) }));

    const single = await probe(`${app.url}/api/v1/check`, singleBodies[0], auth);
    const batch = await probe(`${app.url}/api/v1/check/batch`, batchBodies[0], auth);
    if (single.status !== 200 || batch.status !== 200) throw new Error(`Gatehouse answered ${single.status} / ${batch.status}: ${single.text.slice(0, 300)} ${batch.text.slice(0, 300)}`);
    const evaluation = await probe(`${app.url}/access/v1/evaluation`, evaluationBodies[0], auth);
    const evaluations = await probe(`${app.url}/access/v1/evaluations`, evaluationsBodies[0], auth);
    const authzen = evaluation.status === 200;
    const authzenBatch = evaluations.status === 200;

    const stages = await batchStages(batchBodies[0], batch.text);
    console.log(`in-process, per batch of ${BATCH}: JSON.parse ${stages.parseJson.toFixed(2)} ms, schema validation (Joi) ${stages.schemaValidation.toFixed(2)} ms, canonical check ${stages.canonicalCheck.toFixed(2)} ms (used instead), answer JSON.stringify ${stages.serializeAnswer.toFixed(2)} ms`);

    const floor = await startServer('floor', FLOOR_PORT, ['--single-bytes', String(single.bytes), '--batch-bytes', String(batch.bytes)]);
    servers.push(floor);

    const targets: Target[] = [
      { name: 'floor (single)', url: floor.url, path: '/floor', items: 1, bodies: singleBodies, server: floor },
      { name: 'POST /api/v1/check', url: app.url, path: '/api/v1/check', items: 1, bodies: singleBodies, server: app },
      ...(authzen ? [{ name: 'POST /access/v1/evaluation', url: app.url, path: '/access/v1/evaluation', items: 1, bodies: evaluationBodies, server: app }] : []),
      { name: `floor (batch of ${BATCH})`, url: floor.url, path: '/floor', items: BATCH, bodies: batchBodies, server: floor },
      { name: `POST /api/v1/check/batch (${BATCH})`, url: app.url, path: '/api/v1/check/batch', items: BATCH, bodies: batchBodies, server: app },
      ...(authzenBatch ? [{ name: `POST /access/v1/evaluations (${BATCH})`, url: app.url, path: '/access/v1/evaluations', items: BATCH, bodies: evaluationsBodies, server: app }] : []),
    ];
    console.log(`${CONNECTIONS} connections, ${SECONDS} s per target after ${WARMUP_SECONDS} s of warm-up; answers: check ${single.bytes} B, batch ${batch.bytes.toLocaleString('en-US')} B`);
    if (!authzen) console.log(`  POST /access/v1/evaluation: NOT MEASURED — the route answers ${evaluation.status} on this branch (AuthZEN not merged yet).`);
    if (!authzenBatch) console.log(`  POST /access/v1/evaluations: NOT MEASURED — the route answers ${evaluations.status} on this branch (AuthZEN not merged yet).`);

    const results: Measured[] = [];
    for (const target of targets.filter((x) => x.server === floor || !ONLY || ONLY.some((w) => x.path.endsWith(w)))) results.push(await measure(target, target.server === app ? auth : {}));
    const singleFloor = results[0];
    const batchFloor = results.find((r) => r.name.startsWith('floor (batch'))!;
    const cpuOf = (r: Measured) => r.cpuMicrosPerRequest.user + r.cpuMicrosPerRequest.system;
    for (const r of results) {
      const floorOf = r.decisionsPerRequest === 1 ? singleFloor : batchFloor;
      r.ratioToFloor = +(r.requestsPerSecond / floorOf.requestsPerSecond).toFixed(3);
      r.cpuRatioToFloor = +(cpuOf(floorOf) / cpuOf(r)).toFixed(3);
    }

    console.log('');
    console.log(`${'target'.padEnd(40)} ${'req/s'.padStart(9)} ${'decisions/s'.padStart(12)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'× floor'.padStart(8)} ${'CPU × floor'.padStart(12)} ${'queries/decision'.padStart(17)} ${'background q/s'.padStart(15)}`);
    for (const r of results) {
      console.log(
        `${r.name.padEnd(40)} ${r.requestsPerSecond.toLocaleString('en-US').padStart(9)} ${r.decisionsPerSecond.toLocaleString('en-US').padStart(12)} ${String(r.p50Ms).padStart(8)} ${String(r.p99Ms).padStart(8)} ${`${(r.ratioToFloor! * 100).toFixed(1)}%`.padStart(8)} ${`${(r.cpuRatioToFloor! * 100).toFixed(1)}%`.padStart(12)} ${(r.queriesPerDecision === null ? '–' : String(r.queriesPerDecision)).padStart(17)} ${(r.backgroundQueriesPerSecond === null ? '–' : String(r.backgroundQueriesPerSecond)).padStart(15)}`,
      );
    }
    const check = results.find((r) => r.path === '/api/v1/check');
    const evaluationResult = results.find((r) => r.path === '/access/v1/evaluation');
    const batches = results.filter((r) => r.decisionsPerRequest > 1 && !r.name.startsWith('floor'));
    const goals = {
      singleAtHalfTheFloor: { goal: '≥ 50% of the floor’s req/s', check: check?.ratioToFloor ?? 'not measured', evaluation: evaluationResult?.ratioToFloor ?? 'not measured', cpuRatio: { check: check?.cpuRatioToFloor ?? 'not measured', evaluation: evaluationResult?.cpuRatioToFloor ?? 'not measured' }, met: (check?.ratioToFloor ?? 0) >= 0.5 && (evaluationResult?.ratioToFloor ?? 0) >= 0.5 },
      batchDecisionsPerSecond: { goal: '≥ 200,000 decisions/s', measured: Object.fromEntries(batches.map((b) => [b.path, b.decisionsPerSecond])), met: batches.every((b) => b.decisionsPerSecond >= 200_000) },
      queriesPerDecision: { goal: '0 (sent while answering; the change-log follower polls in the background, independent of the load)', measured: Object.fromEntries(results.filter((r) => r.queriesPerDecision !== null).map((r) => [r.path, r.queriesPerDecision])), met: results.every((r) => !r.queriesPerDecision) },
    };
    console.log('');
    for (const [name, g] of Object.entries(goals)) console.log(`${g.met ? 'MET    ' : 'NOT MET'} ${name}: ${g.goal}`);
    const file = writeResult('decision-http', {
      command: `npm run bench:decision-http -- --seconds ${SECONDS} --connections ${CONNECTIONS}`,
      database: 'MariaDB (seed:demo)',
      data: counts,
      loadGenerator: `autocannon ${CONNECTIONS} connections, ${SECONDS} s per target (${WARMUP_SECONDS} s warm-up), one process; servers in processes of their own`,
      caller: 'machine client with the `decisions` scope, no rate limit',
      answerBytes: { check: single.bytes, batch: batch.bytes, ...(authzen ? { evaluation: evaluation.bytes } : {}), ...(authzenBatch ? { evaluations: evaluations.bytes } : {}) },
      inProcessPerBatchMs: stages,
      notMeasured: [...(authzen ? [] : ['POST /access/v1/evaluation']), ...(authzenBatch ? [] : ['POST /access/v1/evaluations'])],
      results,
      goals,
    });
    console.log(`\nwritten to ${path.relative(ROOT_DIR, file)}`);
  } finally {
    for (const s of servers) s.stop();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
