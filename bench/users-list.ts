import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { parseArgs } from '../src/cli/args';
import { ROOT_DIR } from '../src/paths';
import { benchConsole, benchDatabase, writeResult } from './support';
import { startFloor } from './floor';

/**
 * The user list at scale: fills the database (DATABASE_URL, or a throw-away SQLite file) up to N users
 * with seed:demo data and times the pages an administrator uses, over HTTP, signed in.
 *   npm run bench:users -- --users 100000
 */
const args = parseArgs();
const args_ = args;
const target = Number(args.users ?? 100_000);
const runs = Number(args.runs ?? 30);
const { config, db, dialect, cleanup } = await benchDatabase('users', target);
const bench = await benchConsole(config, db);
const { client } = bench;
const someRole = (await db('roles').where({ builtin_key: 'viewer' }).first('id')).id;
const someGroup = (await db('groups').orderBy('id').first('name')).name;
const total = Number((await db('users').count({ n: '*' }).first())?.n ?? 0);
const partial = { 'HX-Request': 'true', 'HX-Target': 'section#user-results' };

const cases: Array<[string, string, Record<string, string>?]> = [
  ['first page', '/users'],
  ['type-ahead "ann" (htmx fragment)', '/users?q=ann', partial],
  ['type-ahead "anna ber"', '/users?q=anna+ber', partial],
  ['search by email prefix', '/users?q=zoe.', partial],
  ['broad search "a"', '/users?q=a', partial],
  ['filter role', `/users?role=${someRole}`],
  ['filter group', `/users?group=${encodeURIComponent(someGroup)}`],
  ['filter logged in now', '/users?online=1'],
  ['filter status deactivated', '/users?status=deactivated'],
  ['sort by name desc', '/users?sort=name&dir=desc'],
  ['sort by last sign-in', '/users?sort=last_login&dir=desc'],
  ['page 1000', '/users?page=1000'],
  ['sort by role', '/users?sort=role'],
  ['sort by status desc', '/users?sort=status&dir=desc'],
];
const results: Record<string, unknown> = {};
console.log(`${total.toLocaleString('en-US')} users on ${dialect === 'mysql' ? 'MariaDB/MySQL' : 'SQLite'}; ${runs} runs each (ms)`);
console.log('case'.padEnd(40), 'p50'.padStart(8), 'p95'.padStart(8), 'max'.padStart(8));
// --skip "regex": leave out cases by name (say so in the result), e.g. the slow broad searches at a million users.
const skip = typeof args.skip === 'string' ? new RegExp(args.skip) : null;
for (const [name, url, headers] of cases) {
  if (skip?.test(name)) {
    results[name] = { url, skipped: `left out of this run (--skip ${args.skip})` };
    console.log(name.padEnd(40), 'skipped');
    continue;
  }
  const r = await client.time(url, runs, headers);
  results[name] = { url, ...r };
  console.log(name.padEnd(40), String(r.p50).padStart(8), String(r.p95).padStart(8), String(r.max).padStart(8));
}

/**
 * Throughput against the floor (bench/floor.ts), side by side in this run: autocannon, in a process of its
 * own so it does not share the servers' event loop, with 10 connections for a few seconds per page.
 */
interface Throughput {
  rps: number;
  /** CPU per request in this process (the console, or the floor) and in the database server, µs. */
  nodeCpuMicros: number;
  databaseCpuMicros: number | null;
}
async function requestsPerSecond(url: string, headers: Record<string, string> = {}, seconds = Number(args_.seconds ?? 5)): Promise<Throughput> {
  const bin = path.join(ROOT_DIR, 'node_modules', '.bin', 'autocannon');
  const args = ['-c', '10', '-d', String(seconds), '-j', ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]), url];
  const cpu0 = process.cpuUsage();
  const db0 = databaseCpuMicros();
  // Asynchronously: the servers under test run in this process and must keep answering meanwhile.
  const r = await promisify(execFile)(bin, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const cpu = process.cpuUsage(cpu0);
  const db1 = databaseCpuMicros();
  const out = JSON.parse(r.stdout) as { requests: { average: number; total: number }; non2xx: number; errors: number };
  if (out.non2xx || out.errors) throw new Error(`${url}: ${out.non2xx} non-2xx answers, ${out.errors} errors`);
  const n = Math.max(1, out.requests.total);
  return {
    rps: Math.round(out.requests.average),
    nodeCpuMicros: Math.round((cpu.user + cpu.system) / n),
    databaseCpuMicros: db0 !== null && db1 !== null ? Math.round((db1 - db0) / n) : null,
  };
}

/**
 * CPU time the local MariaDB server has used (µs), from /proc; null when it is not a local process here.
 * On a shared two-core machine, requests per second move with the load; CPU per request much less.
 */
function databaseCpuMicros(): number | null {
  try {
    const pid = execFileSync('pidof', ['mariadbd', 'mysqld'], { encoding: 'utf8' }).trim().split(/\s+/)[0];
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Math.round((ticks * 1e6) / 100);
  } catch {
    return null;
  }
}

let throughput: Record<string, unknown> | undefined;
if (dialect === 'mysql' && config.databaseUrl) {
  const floor = await startFloor(config.databaseUrl);
  const server = (bench as unknown as { server: { url: string } }).server.url;
  const cookie = client.cookieHeader();
  const pages: Array<[string, string]> = [
    ['search "ann" (whole page)', '/users?q=ann'],
    ['first page', '/users'],
  ];
  const cpuText = (t: Throughput) => `CPU per request: this process ${t.nodeCpuMicros} µs${t.databaseCpuMicros === null ? '' : `, MariaDB ${t.databaseCpuMicros} µs`}`;
  // Every page and the floor under the same load for a few seconds first, not counted: the first target
  // measured used to pay for warming what all share (compiled code, the heap's young generation, the
  // database's caches): 1,944 µs a request when the first page was measured first, 1,226-1,639 µs later.
  for (const [, url] of pages) await requestsPerSecond(server + url, { cookie }, 4);
  await requestsPerSecond(`${floor.url}/?q=ann`, {}, 2);
  // The floor before and after the pages, averaged: the shared machine's load drifts during a run.
  const floorBefore = await requestsPerSecond(`${floor.url}/?q=ann`);
  const measured: Array<[string, string, Throughput]> = [];
  for (const [name, url] of pages) measured.push([name, url, await requestsPerSecond(server + url, { cookie })]);
  const floorAfter = await requestsPerSecond(`${floor.url}/?q=ann`);
  const mean = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.round((a + b) / 2));
  const floorSearch: Throughput = {
    rps: mean(floorBefore.rps, floorAfter.rps)!,
    nodeCpuMicros: mean(floorBefore.nodeCpuMicros, floorAfter.nodeCpuMicros)!,
    databaseCpuMicros: mean(floorBefore.databaseCpuMicros, floorAfter.databaseCpuMicros),
  };
  throughput = { floor: { url: '/?q=ann', ...floorSearch, before: floorBefore, after: floorAfter } };
  console.log(`\nThroughput, 10 connections (req/s): floor (Koa + mysql2 + Eta, one prefix query) ${floorSearch.rps} (${floorBefore.rps} before the pages, ${floorAfter.rps} after); ${cpuText(floorSearch)}`);
  for (const [name, url, t] of measured) {
    const ratio = Math.round((t.rps / floorSearch.rps) * 1000) / 10;
    const floorCpu = floorSearch.nodeCpuMicros + (floorSearch.databaseCpuMicros ?? 0);
    const cpuRatio = Math.round((floorCpu / (t.nodeCpuMicros + (t.databaseCpuMicros ?? 0))) * 1000) / 10;
    (throughput as Record<string, unknown>)[name] = { url, ...t, percentOfFloor: ratio, cpuPercentOfFloor: cpuRatio };
    console.log(`${name.padEnd(40)} ${String(t.rps).padStart(6)} req/s  = ${ratio}% of the floor; ${cpuText(t)} (floor's CPU / this page's: ${cpuRatio}%)`);
  }
  await floor.close();
}
// One file per size: 100,000 and 1,000,000 users are both kept.
const size = total >= 1_000_000 ? `${Math.floor(total / 1_000_000)}m` : `${Math.round(total / 1000)}k`;
const file = writeResult(`users-list-${dialect}-${size}`, { users: total, runs, database: dialect, results, throughput });
console.log(`written to ${file}`);
await bench.close();
await cleanup();
