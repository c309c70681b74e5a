import { parseArgs } from '../src/cli/args';
import { benchConsole, benchDatabase, writeResult } from './support';

/**
 * The user list at scale: fills the database (DATABASE_URL, or a throw-away SQLite file) up to N users
 * with seed:demo data and times the pages an administrator uses, over HTTP, signed in.
 *   npm run bench:users -- --users 100000
 */
const args = parseArgs();
const target = Number(args.users ?? 100_000);
const runs = Number(args.runs ?? 30);
const { config, db, dialect, cleanup } = await benchDatabase('users', target);
const bench = await benchConsole(config, db);
const { client } = bench;
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
console.log(`${total.toLocaleString('en-US')} users on ${dialect === 'mysql' ? 'MariaDB/MySQL' : 'SQLite'}; ${runs} runs each (ms)`);
console.log('case'.padEnd(40), 'p50'.padStart(8), 'p95'.padStart(8), 'max'.padStart(8));
for (const [name, url, headers] of cases) {
  const r = await client.time(url, runs, headers);
  results[name] = { url, ...r };
  console.log(name.padEnd(40), String(r.p50).padStart(8), String(r.p95).padStart(8), String(r.max).padStart(8));
}
const file = writeResult(`users-list-${dialect}`, { users: total, runs, database: dialect, results });
console.log(`written to ${file}`);
await bench.close();
await cleanup();
