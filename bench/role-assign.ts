import { parseArgs } from '../src/cli/args';
import * as roles from '../src/roles/repo';
import * as roleService from '../src/roles/service';
import { SYSTEM_ACTOR } from '../src/audit/service';
import { benchConsole, benchDatabase, timed, writeResult } from './support';

/**
 * Role assignment at scale: in a directory of 100,000 users (seed:demo data), on the database DATABASE_URL
 * names (default: a throw-away SQLite file), times over HTTP what a Superuser does on a role's "Assign users"
 * page — open it, search, "All >>" for a search result, render 5,000 pending moves — and saving 5,000 users
 * into the role (then back out to the default role), plus the roles list and the matrix.
 *   npm run bench:roles [-- --users 100000 --assign 5000 --runs 10]
 */
const args = parseArgs();
const targetUsers = Number(args.users ?? 100_000);
const assign = Number(args.assign ?? 5_000);
const runs = Number(args.runs ?? 10);
const { config, db, dialect, cleanup } = await benchDatabase('roles', targetUsers);

const ROLE = 'Bench field service';
const analyst = (await roles.findByBuiltinKey(db, 'analyst'))!;
const viewer = (await roles.findByBuiltinKey(db, 'viewer'))!;
let role = await roles.findByNameLower(db, ROLE.toLowerCase());
if (!role) role = await roleService.createRole(db, SYSTEM_ACTOR, { name: ROLE, templateRoleId: viewer.id });
const defaultRole = (await roles.findDefault(db))!;
// The users the saves move: analysts who are not the default role's only holders of anything special.
const movers: number[] = (await db('users').where({ role_id: analyst.id }).orderBy('id').limit(assign).select('id')).map((r: { id: number }) => Number(r.id));
if (movers.length < assign) throw new Error(`only ${movers.length} analysts to move; seed more users`);
await db('users').where({ role_id: role.id }).update({ role_id: defaultRole.id });

const bench = await benchConsole(config, db);
const { client, csrf } = bench;
const url = `/roles/${role.id}/users`;
const users = Number((await db('users').count({ n: '*' }).first())?.n ?? 0);


const dl = (fields: Record<string, string>, target: string) => () =>
  client.request('POST', url, { _csrf: csrf, ...fields }, { 'HX-Request': 'true', 'HX-Target': target });

/** Alternates: 5,000 users into the role, then the same 5,000 out again (to the default role). */
let inRole = false;
async function save() {
  const body: Record<string, string> = inRole ? { users_remove: movers.join(',') } : { users_add: movers.join(',') };
  inRole = !inRole;
  return client.request('POST', url, { _csrf: csrf, op: 'save', ...body });
}

const cases: Array<[string, number, (i: number) => Promise<{ status: number }>, number]> = [
  ['GET /roles (list with user counts)', runs, () => client.request('GET', '/roles'), 200],
  ['GET /roles/matrix', runs, () => client.request('GET', '/roles/matrix'), 200],
  ['GET /roles/:id/users (whole page)', runs, () => client.request('GET', url), 200],
  ['search "anna" in users not assigned', runs, dl({ op: 'users:search', users_lq: 'anna' }, 'div#dl-users-lbody'), 200],
  ['deep page of users not assigned (page 1,000)', runs, dl({ op: 'users:lpage:1000' }, 'fieldset#dl-users'), 200],
  ['"All >>" for the search "a"', runs, dl({ op: 'users:add_all', users_lq: 'a' }, 'fieldset#dl-users'), 200],
  [`dual list with ${assign.toLocaleString('en-US')} pending adds`, runs, dl({ op: 'users:search', users_add: movers.join(',') }, 'fieldset#dl-users'), 200],
  [`Save: ${assign.toLocaleString('en-US')} users in, or out to the default role`, runs % 2 ? runs + 1 : runs, () => save(), 303],
];

const results: Record<string, unknown> = {};
console.log(`${users.toLocaleString('en-US')} users, on ${dialect === 'mysql' ? 'MariaDB/MySQL' : 'SQLite'} (ms)`);
console.log('case'.padEnd(56), 'runs'.padStart(5), 'p50'.padStart(8), 'p95'.padStart(8), 'max'.padStart(8));
for (const [name, n, request, status] of cases) {
  const r = await timed(n, request, status);
  results[name] = r;
  console.log(name.padEnd(56), String(r.n).padStart(5), String(r.p50).padStart(8), String(r.p95).padStart(8), String(r.max).padStart(8));
}
const left = await roles.userCount(db, role.id);
if (left !== 0) throw new Error(`the saves should have left the role empty, found ${left}`);
const file = writeResult(`role-assign-${dialect}`, { database: dialect, users, assign, runs, results });
console.log(`written to ${file}`);
await bench.close();
await cleanup();
