import { describe, expect, it } from 'vitest';
import { AccountDirectory, compareCodePoints, SEARCH_CAP, type DirectoryEntry } from '../../src/access/directory';

/** A small seeded random generator, so a failure shows the same data again. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Letters a directory meets: ASCII, accents, a capital that lower-cases, one in U+E000–U+FFFF (ﬀ) and one
// beyond U+FFFF (𝒜), where UTF-16 order and the database's byte order disagree.
const PIECES = ['a', 'an', 'ann', 'b', 'e', 'é', 'É', 'z', 'Zo', 'ë', 'ﬀ', '𝒜', '.', '-', '1', '9'];

function word(next: () => number, parts = 1 + Math.floor(next() * 4)): string {
  let s = '';
  for (let i = 0; i < parts; i++) s += PIECES[Math.floor(next() * PIECES.length)];
  return s;
}

function entry(next: () => number, id: number): DirectoryEntry {
  return { userId: id, username: `${word(next)}${id}`, firstName: word(next), lastName: word(next), email: `${word(next)}${id}@example.com` };
}

/** What the database answers (repo.list), computed the slow way: sort everything by UTF-8 bytes. */
function byDatabase(entries: Iterable<DirectoryEntry>, q: string | null, dir: 'asc' | 'desc', offset: number, limit: number) {
  const lower = (s: string) => s.toLowerCase();
  const all = [...entries].filter((e) => q === null || [e.username, e.firstName, e.lastName, e.email].some((v) => lower(v).startsWith(q)));
  all.sort((x, y) => Buffer.compare(Buffer.from(lower(x.username)), Buffer.from(lower(y.username))) || x.userId - y.userId);
  if (dir === 'desc') all.reverse();
  const n = all.length;
  return { ids: all.slice(offset, offset + limit).map((e) => e.userId), count: q !== null && n > SEARCH_CAP ? { n: SEARCH_CAP + 1, exact: false } : { n, exact: true } };
}

/** A directory built over these accounts, as a decision state's first load builds it. */
async function directoryOf(accounts: Map<number, DirectoryEntry>) {
  const d = new AccountDirectory((id) => accounts.get(id));
  await d.build([...accounts.keys()]);
  return d;
}

/** One batch of random changes as the decision state applies them: each told before the account is replaced. */
function changeSome(d: AccountDirectory, accounts: Map<number, DirectoryEntry>, next: () => number, size: number, newId: () => number) {
  d.batch(() => {
    for (let i = 0; i < size; i++) {
      const roll = next();
      const ids = [...accounts.keys()];
      const id = ids[Math.floor(next() * ids.length)];
      const before = accounts.get(id);
      if (roll < 0.2 && before) {
        d.willChange(id, before);
        accounts.delete(id);
      } else if (roll < 0.4) {
        const created = newId();
        d.willChange(created, undefined);
        accounts.set(created, entry(next, created));
      } else if (before) {
        d.willChange(id, before);
        // A rename, a new first name, or no searched change at all (a membership).
        accounts.set(id, roll < 0.6 ? { ...before, username: `${word(next)}${id}` } : roll < 0.8 ? { ...before, firstName: word(next) } : { ...before });
      }
    }
  });
}

describe('the accounts directory (the users list from memory)', () => {
  it('orders strings as the database orders its binary columns: by UTF-8 bytes, that is by code point', () => {
    const next = random(1);
    for (let i = 0; i < 5000; i++) {
      const a = word(next).toLowerCase();
      const b = word(next).toLowerCase();
      expect(Math.sign(compareCodePoints(a, b)), `${a} / ${b}`).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
    }
    // Where JavaScript's own comparison is wrong: U+FB00 sorts before U+1D49C by code point, after it by UTF-16 unit.
    expect(compareCodePoints('ﬀ', '𝒜')).toBeLessThan(0);
    expect('ﬀ' < '𝒜').toBe(false);
  });

  it('pages and searches as the database would, and stays so through small and large batches of changes', async () => {
    const next = random(2);
    const accounts = new Map<number, DirectoryEntry>();
    for (let id = 1; id <= 1500; id++) accounts.set(id, entry(next, id));
    const d = await directoryOf(accounts);
    let nextId = 1501;
    const check = (round: number) => {
      for (const q of [null, 'a', 'an', 'ann', 'é', 'e', 'ë', 'ﬀ', '𝒜', 'z', 'zo', '9', 'nothing-like-this']) {
        for (const dir of ['asc', 'desc'] as const) {
          for (const [offset, limit] of [[0, 51], [50, 26], [1400, 51]]) {
            const want = byDatabase(accounts.values(), q, dir, offset, limit);
            const got = q === null ? d.page(dir, offset, limit) : d.search(q, dir, offset, limit);
            expect(got, `round ${round}, q=${q} ${dir} ${offset}+${limit}`).toEqual(want);
          }
        }
      }
    };
    check(0);
    for (const size of [1, 5, 64, 65, 400]) {
      changeSome(d, accounts, next, size, () => nextId++);
      check(size);
    }
  });

  it('is not used before it is built, and puts in what changed while it was being built', async () => {
    const next = random(4);
    const accounts = new Map<number, DirectoryEntry>();
    for (let id = 1; id <= 50_000; id++) accounts.set(id, entry(next, id));
    const d = new AccountDirectory((id) => accounts.get(id));
    const building = d.build([...accounts.keys()]);
    expect(d.ready).toBe(false);
    let nextId = 50_001;
    // Changes arriving between the build's slices, as change-log batches do.
    for (let round = 0; round < 5; round++) {
      changeSome(d, accounts, next, 30, () => nextId++);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await building;
    expect(d.ready).toBe(true);
    for (const q of [null, 'an', 'é', 'z'] as const) {
      const got = q === null ? d.page('asc', 100, 51) : d.search(q, 'asc', 0, 51);
      expect(got, `q=${q}`).toEqual(byDatabase(accounts.values(), q, 'asc', q === null ? 100 : 0, 51));
    }
  });

  it('a word finding more than the count cap is "more than", and its pages come in order', async () => {
    const accounts = new Map<number, DirectoryEntry>();
    const next = random(3);
    for (let id = 1; id <= SEARCH_CAP + 40; id++) accounts.set(id, { userId: id, username: `a${word(next)}${id}`, firstName: 'X', lastName: 'Y', email: `u${id}@example.com` });
    for (let id = SEARCH_CAP + 41; id <= SEARCH_CAP + 60; id++) accounts.set(id, { userId: id, username: `b${id}`, firstName: 'Al', lastName: 'Y', email: `b${id}@example.com` });
    const d = await directoryOf(accounts);
    for (const dir of ['asc', 'desc'] as const) {
      for (const offset of [0, 500]) {
        const got = d.search('a', dir, offset, 51);
        expect(got.count).toEqual({ n: SEARCH_CAP + 1, exact: false });
        expect(got.ids).toEqual(byDatabase(accounts.values(), 'a', dir, offset, 51).ids);
      }
    }
    expect(d.search('al', 'asc', 0, 100).ids).toEqual(byDatabase(accounts.values(), 'al', 'asc', 0, 100).ids);
  });
});
