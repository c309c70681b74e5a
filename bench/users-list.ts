import { loadConfig } from '../src/config';
import { createDb } from '../src/db/connect';
import { createApp } from '../src/app';
import { createSuperuser, prepareDatabase } from '../src/setup/bootstrap';
import { seedDemo } from '../seeds/demo';
import { parseArgs } from '../src/cli/args';
import { Client, serve, writeResult } from './support';

/**
 * The user list at scale: fills the database (DATABASE_URL, or a throw-away SQLite file) up to N users
 * with seed:demo data and times the pages an administrator uses, over HTTP, signed in.
 *   npm run bench:users -- --users 100000
 */
const args = parseArgs();
const target = Number(args.users ?? 100_000);
const runs = Number(args.runs ?? 30);
const config = loadConfig(process.env, { sqliteFile: process.env.GATEHOUSE_SQLITE_FILE || '/tmp/gatehouse-bench.sqlite', scryptN: 2 ** 14 });
const db = createDb(config);
await prepareDatabase(db);
const have = Number((await db('users').count({ n: '*' }).first())?.n ?? 0);
if (have < target) {
  const t0 = Date.now();
  await seedDemo(db, { users: target - have, scryptN: 2 ** 14, password: 'demo-password-2026' });
  console.log(`seeded ${target - have} users in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
await createSuperuser(db, config, { username: 'bench-admin', password: 'bench-password-123', email: 'bench-admin@example.com' });
const gate = await createApp(config, { db });
const server = await serve(gate.app.callback());
const client = new Client(server.url);
await client.signIn('bench-admin', 'bench-password-123');
const someRole = (await db('roles').where({ builtin_key: 'viewer' }).first('id')).id;
const someGroup = (await db('groups').orderBy('id').first('name')).name;
const total = Number((await db('users').count({ n: '*' }).first())?.n ?? 0);
const lastPage = Math.ceil(total / 50);
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
  [`last page (${lastPage})`, `/users?page=${lastPage}`],
];
const results: Record<string, unknown> = {};
console.log(`${total.toLocaleString('en-US')} users on ${config.databaseUrl ? 'MariaDB/MySQL' : 'SQLite'}; ${runs} runs each (ms)`);
console.log('case'.padEnd(40), 'p50'.padStart(8), 'p95'.padStart(8), 'max'.padStart(8));
for (const [name, url, headers] of cases) {
  const r = await client.time(url, runs, headers);
  results[name] = { url, ...r };
  console.log(name.padEnd(40), String(r.p50).padStart(8), String(r.p95).padStart(8), String(r.max).padStart(8));
}
const file = writeResult(`users-list-${config.databaseUrl ? 'mysql' : 'sqlite'}`, { users: total, runs, database: config.databaseUrl ? 'mysql' : 'sqlite', results });
console.log(`written to ${file}`);
await server.close();
await gate.close();
await db.destroy();
