import { parseArgs } from '../src/cli/args';
import * as groups from '../src/groups/repo';
import { benchConsole, benchDatabase, timed, writeResult } from './support';

/**
 * The group page at scale: a group of 20,000 members in a directory of 100,000 users (seed:demo data), on
 * the database DATABASE_URL names (default: a throw-away SQLite file). Times, over HTTP and signed in, what
 * an administrator does on the Members tab: open the page, search each side of the dual list, change page,
 * and save 1,000 moves (and once 20,000).
 *   npm run bench:groups [-- --users 100000 --members 20000 --runs 20]
 */
const args = parseArgs();
const targetUsers = Number(args.users ?? 100_000);
const targetMembers = Number(args.members ?? 20_000);
const runs = Number(args.runs ?? 20);
const { config, db, dialect, cleanup } = await benchDatabase('groups', targetUsers);

// The big group: every fifth user, inserted 1,000 rows per statement.
const GROUP = 'Bench all-hands';
let groupId = (await groups.findByName(db, GROUP))?.id;
if (!groupId) groupId = await groups.insert(db, { name: GROUP, description: 'A group of 20,000 members for the benchmark' });
const allIds: number[] = (await db('users').orderBy('id').select('id')).map((r: { id: number }) => Number(r.id));
const memberIds = allIds.filter((_, i) => i % 5 === 0).slice(0, targetMembers);
{
  const t0 = Date.now();
  await db.transaction(async (trx) => {
    await trx('group_members').where({ group_id: groupId }).delete();
    await groups.insertMembers(trx, groupId!, memberIds);
  });
  console.log(`group "${GROUP}" filled with ${memberIds.length.toLocaleString('en-US')} members in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
const outsiders = allIds.filter((_, i) => i % 5 !== 0);

const bench = await benchConsole(config, db);
const { client, csrf } = bench;
const url = `/groups/${groupId}`;
const users = Number((await db('users').count({ n: '*' }).first())?.n ?? 0);
const members = await groups.memberCount(db, groupId);


const dl = (fields: Record<string, string>, target: string) => () =>
  client.request('POST', url, { _csrf: csrf, ...fields }, { 'HX-Request': 'true', 'HX-Target': target });
const group = await groups.findById(db, groupId);

/** Saves moves through the page's form; the direction alternates so that every save really moves users. */
const flipped = new Map<number, boolean>();
async function saveMoves(n: number) {
  const g = (await groups.findById(db, groupId!))!;
  const half = Math.floor(n / 2);
  const a = outsiders.slice(0, half);
  const b = memberIds.slice(0, n - half);
  const flip = !!flipped.get(n);
  flipped.set(n, !flip);
  const [add, remove] = flip ? [b, a] : [a, b];
  return client.request('POST', url, {
    _csrf: csrf,
    op: 'save',
    name: g.name,
    description: g.description,
    baseName: g.name,
    baseDescription: g.description,
    version: String(g.version),
    members_add: add.join(','),
    members_remove: remove.join(','),
  });
}

const cases: Array<[string, number, (i: number) => Promise<{ status: number }>, number]> = [
  ['GET /groups/:id (whole page)', runs, () => client.request('GET', url), 200],
  ['search "anna" in users not in the group', runs, dl({ op: 'members:search', members_lq: 'anna' }, 'div#dl-members-lbody'), 200],
  ['search "anna" in assigned users', runs, dl({ op: 'members:search', members_rq: 'anna' }, 'div#dl-members-rbody'), 200],
  ['search "zo" (both sides, whole list)', runs, dl({ op: 'members:search', members_lq: 'zo', members_rq: 'zo' }, 'fieldset#dl-members'), 200],
  ['next page of assigned users (page 2)', runs, dl({ op: 'members:rpage:2' }, 'fieldset#dl-members'), 200],
  ['deep page of users not in the group (page 1,000)', runs, dl({ op: 'members:lpage:1000' }, 'fieldset#dl-members'), 200],
  ['move 25 selected users > (pending)', runs, dl({ op: 'members:add', members_lsel: outsiders.slice(0, 25).join(',') }, 'fieldset#dl-members'), 200],
  ['dual list with 1,000 pending moves', runs, dl({ op: 'members:search', members_add: outsiders.slice(0, 500).join(','), members_remove: memberIds.slice(0, 500).join(',') }, 'fieldset#dl-members'), 200],
  ['Save 1,000 moves (500 in, 500 out)', runs, () => saveMoves(1000), 303],
  ['Save 20,000 moves (10,000 in, 10,000 out)', Math.max(2, Math.floor(runs / 5)), () => saveMoves(20_000), 303],
];

const results: Record<string, unknown> = {};
console.log(`${users.toLocaleString('en-US')} users, group of ${members.toLocaleString('en-US')} members, on ${dialect === 'mysql' ? 'MariaDB/MySQL' : 'SQLite'} (ms)`);
console.log('case'.padEnd(52), 'runs'.padStart(5), 'p50'.padStart(8), 'p95'.padStart(8), 'max'.padStart(8));
for (const [name, n, request, status] of cases) {
  const r = await timed(n, request, status);
  results[name] = r;
  console.log(name.padEnd(52), String(r.n).padStart(5), String(r.p50).padStart(8), String(r.p95).padStart(8), String(r.max).padStart(8));
}
const finalMembers = await groups.memberCount(db, groupId);
if (finalMembers !== members) throw new Error(`the saves should have left ${members} members, found ${finalMembers}`);
const file = writeResult('group-page', { database: dialect, users, groupMembers: members, group: group?.name, runs, results });
console.log(`written to ${file}`);
await bench.close();
await cleanup();
