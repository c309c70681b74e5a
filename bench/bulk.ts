import { parseArgs } from '../src/cli/args';
import { benchConsole, benchDatabase, summarize, writeResult } from './support';

/**
 * Bulk actions at scale: 10,000 users (the members of one group, among N users) deactivated, reactivated,
 * given a role and given it back, through the console as an administrator does it: the preview page, the
 * confirmation, and the job page followed until the result.
 *   npm run bench:bulk -- --users 100000 --targets 10000 --runs 3
 */
const args = parseArgs();
const target = Number(args.users ?? 100_000);
const targets = Number(args.targets ?? 10_000);
const runs = Number(args.runs ?? 3);
const { config, db, dialect, cleanup } = await benchDatabase('bulk', target);
const bench = await benchConsole(config, db);
const { client } = bench;

// The targets: the first N ordinary users, gathered in a group of their own so one filter selects them.
const groupName = 'Bulk benchmark leavers';
const now = Date.now();
await db('groups').where({ name_lower: groupName.toLowerCase() }).delete();
await db('groups').insert({ name: groupName, name_lower: groupName.toLowerCase(), description: 'bench/bulk.ts', created_at: now, updated_at: now });
const groupId = (await db('groups').where({ name_lower: groupName.toLowerCase() }).first('id')).id;
const analyst = (await db('roles').where({ builtin_key: 'analyst' }).first('id')).id;
const viewer = (await db('roles').where({ builtin_key: 'viewer' }).first('id')).id;
const ids: number[] = (await db('users').where({ role_id: analyst, status: 'active' }).orderBy('id').limit(targets).select('id')).map((r: { id: number }) => r.id);
for (let i = 0; i < ids.length; i += 1000) await db('group_members').insert(ids.slice(i, i + 1000).map((u) => ({ group_id: groupId, user_id: u, added_at: now })));

function hiddenFields(html: string): Record<string, string> {
  const form = /<form method="post" action="\/users\/bulk" class="bulk-confirm">([\s\S]*?)<\/form>/.exec(html)?.[1] ?? '';
  const out: Record<string, string> = {};
  for (const m of form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) out[m[1]] = m[2].replace(/&amp;/g, '&').replace(/&quot;/g, '"');
  return out;
}

async function runAction(action: Record<string, string>) {
  const query = new URLSearchParams({ scope: 'filter', group: groupName, ...action }).toString();
  const t0 = performance.now();
  const preview = await client.request('GET', `/users/bulk?${query}`);
  const tPreview = performance.now() - t0;
  if (preview.status !== 200) throw new Error(`preview answered ${preview.status}`);
  const fields = hiddenFields(preview.text);
  const planned = fields.planned ? fields.planned.split(',').length : 0;
  const t1 = performance.now();
  const confirm = await client.request('POST', '/users/bulk', fields);
  if (confirm.status !== 303) throw new Error(`confirm answered ${confirm.status}: ${confirm.text.slice(0, 300)}`);
  const location = confirm.headers.get('location')!;
  let page = await client.request('GET', location);
  let polls = 0;
  while (page.headers.get('refresh')) {
    await new Promise((r) => setTimeout(r, 100));
    page = await client.request('GET', location);
    polls++;
  }
  const tApply = performance.now() - t1;
  const message = /class="flash flash-(?:success|error)"[^>]*>([^<]*)</.exec(page.text)?.[1] ?? '';
  return { planned, previewMs: tPreview, applyMs: tApply, progressPages: polls, message };
}

const actions: Array<[string, Record<string, string>]> = [
  ['deactivate', { action: 'deactivate' }],
  ['reactivate', { action: 'reactivate' }],
  ['assign role Viewer', { action: 'assign_role', roleId: String(viewer) }],
  ['assign role Analyst', { action: 'assign_role', roleId: String(analyst) }],
];
const results: Record<string, unknown> = {};
const total = Number((await db('users').count({ n: '*' }).first())?.n ?? 0);
console.log(`${ids.length.toLocaleString('en-US')} targets among ${total.toLocaleString('en-US')} users on ${dialect === 'mysql' ? 'MariaDB/MySQL' : 'SQLite'}; ${runs} runs (ms)`);
console.log('action'.padEnd(24), 'preview p50'.padStart(12), 'apply p50'.padStart(10), 'apply max'.padStart(10), '  result');
for (const [name, action] of actions) {
  const previews: number[] = [];
  const applies: number[] = [];
  let last: Awaited<ReturnType<typeof runAction>> | undefined;
  for (let i = 0; i < runs; i++) {
    // Each run must change every target: undo the action between runs (deactivate ↔ reactivate, role ↔ role).
    if (i > 0) {
      const undo = actions.find(([n]) => n !== name && (n.startsWith('assign') === name.startsWith('assign')))![1];
      await runAction(undo);
    }
    last = await runAction(action);
    if (last.planned !== ids.length) throw new Error(`${name}: planned ${last.planned}, expected ${ids.length}`);
    previews.push(last.previewMs);
    applies.push(last.applyMs);
  }
  const p = summarize(previews);
  const a = summarize(applies);
  results[name] = { targets: ids.length, preview: p, apply: a, message: last!.message };
  console.log(name.padEnd(24), String(p.p50).padStart(12), String(a.p50).padStart(10), String(a.max).padStart(10), ' ', last!.message);
}
await db('groups').where({ id: groupId }).delete();
const file = writeResult(`bulk-${dialect}`, { users: total, targets: ids.length, runs, database: dialect, results });
console.log(`written to ${file}`);
await bench.close();
await cleanup();
