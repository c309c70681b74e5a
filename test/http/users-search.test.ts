import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $, createTestApp, type Agent, type TestApp } from '../support/app';
import * as repo from '../../src/users/repo';
import { membersOfGroupSource } from '../../src/groups/membersRepo';
import { recordChange } from '../../src/changes/service';
import { transaction } from '../../src/db/transaction';

/**
 * The users list's search at scale (issue 14) finds exactly what the plain predicate finds — every word the
 * start of the username, first name, last name or email — whichever plan reads it (the four disjoint index
 * lookups, their merged pages, or the walk of the username index), and counts exactly up to 10,000.
 */
let t: TestApp;
let admin: Agent;

interface Row {
  id: number;
  username_lower: string;
  first_name_lower: string;
  last_name_lower: string;
  email_lower: string;
  role_id: number;
}
let everyone: Row[] = [];

const FIRST = ['Anna', 'Annika', 'Bert', 'Zoë', 'A%b', 'A_b', 'A!b', 'A*b', 'A[b', 'Ann'];
const LAST = ['Annan', 'Berg', 'Ström', 'Ber', 'Anders', 'O’Neil'];

/** Users written straight to the table are announced as the product's writes are (servers hold accounts in memory). */
const announce = () => transaction(t.db, (trx) => recordChange(trx, { kind: 'rebuild' }));

async function insertUsers(rows: Array<{ username: string; firstName: string; lastName: string; email: string }>, roleId: number, licenseTypeId: number) {
  const now = Date.now();
  for (let i = 0; i < rows.length; i += 400) {
    await t.db('users').insert(rows.slice(i, i + 400).map((u) => repo.userRow({ ...u, passwordHash: null, roleId, licenseTypeId }, now)));
  }
  await announce();
}

/** What the old predicate finds, in username order (binary, as the lower-cased columns compare). */
function expected(words: string[], where: (r: Row) => boolean = () => true): Row[] {
  return everyone
    .filter((r) => where(r) && words.every((w) => [r.username_lower, r.first_name_lower, r.last_name_lower, r.email_lower].some((c) => c.startsWith(w))))
    .sort((a, b) => (Buffer.from(a.username_lower) < Buffer.from(b.username_lower) ? -1 : 1));
}

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'admin', role: 'superuser' });
  admin = await t.signIn('admin');
  const analyst = await t.make.roleId('analyst');
  const viewer = await t.make.roleId('viewer');
  const license = (await t.db('license_types').first('id')).id as number;
  const rows = [];
  for (let i = 0; i < 320; i++) {
    const first = FIRST[i % FIRST.length];
    const last = LAST[(i * 7) % LAST.length];
    // Usernames, names and emails that start alike and differently, so a word is found through one, several
    // or all four columns of the same user.
    const username = i % 5 === 0 ? `${first.toLowerCase()}.${last.toLowerCase()}.${i}` : i % 5 === 1 ? `u${i}` : `${last.slice(0, 3).toLowerCase()}${i}`;
    const email = i % 3 === 0 ? `${username}@example.com` : i % 3 === 1 ? `x${i}@annex.example` : `${first.toLowerCase()}${i}@berg.example`;
    rows.push({ username, firstName: first, lastName: last, email });
  }
  await insertUsers(rows.slice(0, 160), analyst, license);
  await insertUsers(rows.slice(160), viewer, license);
  everyone = await t.db('users').select('id', 'username_lower', 'first_name_lower', 'last_name_lower', 'email_lower', 'role_id');
});
afterAll(async () => t?.close());

const WORDS = ['a', 'an', 'ann', 'anna', 'annan', 'annika', 'b', 'ber', 'berg', 'zo', 'zoë', 'ström', 'a%', 'a_', 'a!', 'a*', 'a[', 'x1', 'u1', 'o’', 'nobody', '%', '_', 'admin'];

describe('one-word search, alone, in username order', () => {
  it('finds and counts what the predicate finds, on every page, in both directions', async () => {
    const now = Date.now();
    for (const word of WORDS) {
      const all = expected([word]);
      for (const dir of ['asc', 'desc'] as const) {
        const ordered = dir === 'asc' ? all : [...all].reverse();
        for (const offset of [0, 25, 50, 100]) {
          const r = await repo.list(t.db, { q: word }, 'username', dir, 26, offset, now, undefined, { boundedCount: true });
          expect(r.count, `${word} ${dir} ${offset}`).toEqual({ n: all.length, exact: true });
          expect(
            r.rows.map((x) => x.id),
            `${word} ${dir} ${offset}`,
          ).toEqual(ordered.slice(offset, offset + 26).map((x) => x.id));
        }
      }
    }
  });
});

describe('other searches', () => {
  it('several words, and a word with filters or another sort, find what the predicate finds', async () => {
    const now = Date.now();
    const viewer = await t.make.roleId('viewer');
    for (const q of ['anna berg', 'a berg', 'an ber', 'ann annan', 'b zoë', 'ber ber', 'x1 annika', 'a b']) {
      const words = q.split(' ');
      const all = expected(words);
      const r = await repo.list(t.db, { q }, 'username', 'asc', 500, 0, now, undefined, { boundedCount: true });
      expect(r.count, q).toEqual({ n: all.length, exact: true });
      expect(new Set(r.rows.map((x) => x.id)), q).toEqual(new Set(all.map((x) => x.id)));
      const byRole = await repo.list(t.db, { q, roleId: viewer }, 'email', 'desc', 500, 0, now, undefined, { boundedCount: true });
      expect(new Set(byRole.rows.map((x) => x.id)), `${q} viewer`).toEqual(new Set(expected(words, (x) => x.role_id === viewer).map((x) => x.id)));
    }
    for (const word of ['ann', 'a', 'ber']) {
      const r = await repo.list(t.db, { q: word, roleId: viewer }, 'username', 'asc', 500, 0, now, undefined, { boundedCount: true });
      expect(r.rows.map((x) => x.id), word).toEqual(expected([word], (x) => x.role_id === viewer).map((x) => x.id));
      expect(r.count.n, word).toBe(r.rows.length);
    }
  });

  it('role and license names come from the names a server holds, and from the database for one it does not know yet', async () => {
    const now = Date.now();
    const joined = await repo.list(t.db, { q: 'ann' }, 'username', 'asc', 50, 0, now, undefined, { boundedCount: true });
    const known = (await t.db('roles').select('id', 'name')).map((r: { id: number; name: string }) => [Number(r.id), r.name] as const);
    const licenses = (await t.db('license_types').select('id', 'name')).map((l: { id: number; name: string }) => [Number(l.id), l.name] as const);
    const names = (roles: ReadonlyArray<readonly [number, string]>, lic: ReadonlyArray<readonly [number, string]>) => ({
      role: (id: number) => new Map(roles).get(id),
      license: (id: number) => new Map(lic).get(id),
    });
    const held = await repo.list(t.db, { q: 'ann' }, 'username', 'asc', 50, 0, now, undefined, { boundedCount: true, names: names(known, licenses) });
    // A server that has not heard of a role or license yet (made on another server a moment ago).
    const behind = await repo.list(t.db, { q: 'ann' }, 'username', 'asc', 50, 0, now, undefined, { boundedCount: true, names: names([], []) });
    const shown = (rows: repo.UserListRow[]) => rows.map((r) => [r.username, r.roleName, r.licenseName]);
    expect(joined.rows.length).toBeGreaterThan(0);
    expect(joined.rows.every((r) => r.roleName && r.licenseName)).toBe(true);
    expect(shown(held.rows)).toEqual(shown(joined.rows));
    expect(shown(behind.rows)).toEqual(shown(joined.rows));
  });

  it('the page shows the count and the matching users', async () => {
    const res = await admin.get('/users').query({ q: 'annika' });
    const all = expected(['annika']);
    const shown = $(res.text)('#user-results tbody td.user-cell a')
      .map((_, el) => $(res.text)(el).text())
      .get();
    expect(shown).toEqual(all.slice(0, 50).map((x) => everyone.find((e) => e.id === x.id)!.username_lower));
    expect($(res.text)('#user-results').text()).toContain(String(all.length));
  });
});

describe('counts bounded at 10,000', () => {
  it('counts up to 10,000 exactly, across columns, and says "more than 10,000" beyond', async () => {
    const analyst = await t.make.roleId('analyst');
    const license = (await t.db('license_types').first('id')).id as number;
    // 6,000 users found by their username and 4,001 others only by their email: each lookup finds fewer than
    // 10,001, together they find more.
    const rows = [];
    for (let i = 0; i < 6000; i++) rows.push({ username: `bulk${i}`, firstName: 'Filler', lastName: 'Row', email: `f${i}@fill.example` });
    for (let i = 0; i < 4001; i++) rows.push({ username: `zz${i}`, firstName: 'Filler', lastName: 'Row', email: `bulkmail${i}@fill.example` });
    await insertUsers(rows, analyst, license);
    try {
      await boundedCounts();
    } finally {
      // The other tests compare against the 320 users alone.
      await t.db('users').where('last_name_lower', 'row').delete();
      await announce();
    }
  });
});

/** 6,000 users found by their username and 4,001 others only by their email (inserted by the caller). */
async function boundedCounts() {
  const now = Date.now();
  const broad = await repo.list(t.db, { q: 'bulk' }, 'username', 'asc', 51, 0, now, undefined, { boundedCount: true });
  expect(broad.count).toEqual({ n: repo.COUNT_CAP + 1, exact: false });
  expect(broad.rows.map((r) => r.username)).toEqual(
    Array.from({ length: 6000 }, (_, i) => `bulk${i}`)
      .sort()
      .slice(0, 51),
  );
  expect($((await admin.get('/users').query({ q: 'bulk' })).text)('#user-results').text()).toMatch(/more than 10,000/i);
  // The same counts in a group's Members dual list, within each side.
  const group = await t.make.makeGroup('Bulk pair', ['bulk0', 'bulk1']);
  const members = membersOfGroupSource(t.db, group.id);
  const none = { add: [], remove: [] };
  expect(await members.page('available', 'bulk', none, 25, 0)).toMatchObject({ total: 9_999, exact: true });
  expect((await members.page('available', 'bulk', none, 25, 0)).items.map((i) => i.label)).toEqual(
    Array.from({ length: 6000 }, (_, i) => `bulk${i}`)
      .sort()
      .filter((u) => u !== 'bulk0' && u !== 'bulk1')
      .slice(0, 25),
  );
  expect(await members.page('assigned', 'bulk', none, 25, 0)).toMatchObject({ total: 2, exact: true });
  expect(await members.page('available', 'fil', none, 25, 0)).toMatchObject({ total: 9_999, exact: true });
  expect(await members.page('available', '', none, 25, 0)).toMatchObject({ total: repo.COUNT_CAP + 1, exact: false });
  expect($((await admin.get(`/groups/${group.id}`)).text)('#dl-members-lbody .dl-count').text()).toMatch(/more than 10,000/i);
  // A lookup finding few users sorts its matches; one finding many (the first names here) walks the username index.
  expect(await queriesOf(() => repo.list(t.db, { q: 'zoë' }, 'username', 'asc', 51, 0, now, undefined, { boundedCount: true }))).toContain('users_search_first_name_index');
  let walked: Awaited<ReturnType<typeof repo.list>> | undefined;
  const walkedSql = await queriesOf(async () => (walked = await repo.list(t.db, { q: 'fil' }, 'username', 'desc', 51, 0, now, undefined, { boundedCount: true })));
  expect(walkedSql).toContain('users_search_username_index');
  expect(walkedSql).not.toContain('users_search_first_name_index');
  expect(walked!.count).toEqual({ n: repo.COUNT_CAP + 1, exact: false });
  expect(walked!.rows.map((r) => r.username)).toEqual(
    Array.from({ length: 4001 }, (_, i) => `zz${i}`)
      .sort()
      .reverse()
      .slice(0, 51),
  );
  // A word finding more than 10,000 users narrowed by another to 4,001: counted exactly.
  const both = await repo.list(t.db, { q: 'bulk z' }, 'username', 'asc', 51, 0, now, undefined, { boundedCount: true });
  expect(both.count).toEqual({ n: 4001, exact: true });
  expect(both.rows[0].username).toBe('zz0');
  await t.db('users').where('username_lower', 'zz0').delete();
  await announce();
  const exact = await repo.list(t.db, { q: 'bulk' }, 'username', 'desc', 51, 9990, now, undefined, { boundedCount: true });
  expect(exact.count).toEqual({ n: 10_000, exact: true });
  expect(exact.rows.map((r) => r.username)).toEqual(
    Array.from({ length: 6000 }, (_, i) => `bulk${i}`)
      .sort()
      .slice(0, 10)
      .reverse(),
  );
  expect($((await admin.get('/users').query({ q: 'f' })).text)('#user-results').text()).toContain('10,000 users match');
}

/** The SQL a piece of work ran, joined. */
async function queriesOf(work: () => Promise<unknown>): Promise<string> {
  const seen: string[] = [];
  const onQuery = (q: { sql: string }) => seen.push(q.sql);
  t.db.on('query', onQuery);
  try {
    await work();
  } finally {
    t.db.off('query', onQuery);
  }
  return seen.join('\n');
}
