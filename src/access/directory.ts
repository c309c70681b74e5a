/**
 * The users list's order and search over the decision state's accounts, in memory: the list's default view
 * (by username, unfiltered or searched for one word) read from here costs no query, where a page read from
 * the database spent about a third of its CPU in the database driver (issue 14: the list at half a bare
 * page's speed).
 *
 * Four arrays hold every account's id, each sorted by one searched column lower-cased — username, first
 * name, last name, email — then by id, in code point order: how the database orders its binary `*_lower`
 * columns (migrations 0001/0006), so a page here is the page the database would give. The state tells the
 * directory of every account it puts or drops (DecisionState.putAccount/dropAccount), in batches: a batch
 * of a few changes is spliced in; a large one (the first load, a bulk action, an import) is sorted and put
 * in with one copy per array.
 *
 * A search is what `repo.list` does for one word: every user whose username, first name, last name or
 * email starts with it, in username order, counted exactly up to SEARCH_CAP and as "more than" beyond. Each
 * column's prefix range is a binary search; the users only the names or the email find are placed by their
 * position in username order (integers, no strings compared), and what a word finds is remembered while no
 * account's searched columns change.
 */
import { COUNT_CAP, type ListCount } from '../users/repo';

/** What the directory reads of an account. */
export interface DirectoryEntry {
  userId: number;
  username: string;
  firstName: string;
  lastName: string;
  email: string;
}

/** Matches counted exactly up to this many; beyond, a search is "more than" this (as repo.list counts). */
export const SEARCH_CAP = COUNT_CAP;
/** Words whose matches are remembered at most, and positions (4 bytes each) they may hold in all. */
const REMEMBERED_WORDS = 200;
const REMEMBERED_POSITIONS = 4_000_000;
/** A batch with more changes than this per array is merged in one pass instead of spliced in. */
const SPLICE_MAX = 64;
/** `build` lets the event loop run after about this many accounts or comparisons (a few milliseconds). */
const SLICE = 20_000;

const pause = () => new Promise<void>((resolve) => setImmediate(resolve));

const COLUMNS = 4;
const keyOf = (e: DirectoryEntry, column: number): string =>
  (column === 0 ? e.username : column === 1 ? e.firstName : column === 2 ? e.lastName : e.email).toLowerCase();

/**
 * Compares two strings by code point, as a binary UTF-8 collation does. JavaScript's `<` compares UTF-16
 * code units, which differs only where a character beyond U+FFFF (a surrogate pair) meets one in
 * U+E000–U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        // Surrogates (D800–DFFF) stand for code points above FFFF: move them above E000–FFFF.
        x = x < 0xe000 ? x + 0x2000 : x - 0x800;
        y = y < 0xe000 ? y + 0x2000 : y - 0x800;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

interface Pending {
  /** The searched keys of accounts changed or dropped in this batch, as they were before it. */
  before: Map<number, string[] | null>;
}

export class AccountDirectory {
  /** Built (see `build`): until then the users list reads the database. */
  ready = false;
  /** Ids in order of each column's key, then id. */
  private orders: number[][] = [[], [], [], []];
  private pending: Pending | null = null;
  /** While `build` runs: the changes told meanwhile, put in once it is done. */
  private building: Pending | null = null;
  /** Where the users each word finds stand in username order (see matchesOf). */
  private readonly found = new Map<string, Matches>();
  /** By column, each id's position in that column's order (see rankArrays); null when to be made again. */
  private ranks: Ranks[] | null = null;
  /** Positions held by `found`, to keep what it remembers bounded. */
  private foundSize = 0;

  constructor(private readonly entryOf: (id: number) => DirectoryEntry | undefined) {}

  /**
   * Orders these accounts (a state's first load) a slice at a time, letting the server answer in between: a
   * million accounts take a few seconds of CPU. Changes told meanwhile are put in when it is done.
   */
  async build(ids: number[]): Promise<void> {
    const building: Pending = { before: new Map() };
    this.building = building;
    // Each account's keys as of when the build began: an account changed since is read as it was.
    const snapshot: Array<{ id: number; keys: string[] }> = [];
    let plain = true;
    for (let i = 0; i < ids.length; i++) {
      if (i % SLICE === SLICE - 1) await pause();
      const before = building.before.get(ids[i]);
      const entry = before === undefined ? this.entryOf(ids[i]) : undefined;
      const keys = before === undefined ? (entry ? keysOf(entry) : null) : before;
      if (!keys) continue;
      snapshot.push({ id: ids[i], keys });
      if (plain && keys.some((k) => FROM_D800.test(k))) plain = false;
    }
    const orders: number[][] = [];
    for (let c = 0; c < COLUMNS; c++) orders.push(await orderOf(snapshot, c, plain ? byUnitsThenId : byKeyThenId));
    this.orders = orders;
    this.building = null;
    this.settle(building);
    this.changed();
    this.ready = true;
  }

  /** Runs `work`, which changes accounts (telling `willChange` first), and brings the order up to date after. */
  batch(work: () => void): void {
    if (this.pending) return work();
    if (this.building) {
      // Kept for the end of the build.
      this.pending = this.building;
      try {
        return work();
      } finally {
        this.pending = null;
      }
    }
    this.pending = { before: new Map() };
    try {
      work();
    } finally {
      const pending = this.pending;
      this.pending = null;
      this.settle(pending);
    }
  }

  /** An account is about to be put or dropped: call inside `batch`, before the state replaces it. */
  willChange(id: number, before: DirectoryEntry | undefined): void {
    if (!this.pending) throw new Error('AccountDirectory.willChange outside a batch');
    if (!this.pending.before.has(id)) this.pending.before.set(id, before ? keysOf(before) : null);
  }

  private settle(pending: Pending): void {
    if (!pending.before.size) return;
    let moved = false;
    for (let c = 0; c < COLUMNS; c++) {
      const remove: Array<{ id: number; key: string }> = [];
      const insert: Array<{ id: number; key: string }> = [];
      for (const [id, before] of pending.before) {
        const now = this.entryOf(id);
        const after = now ? keyOf(now, c) : null;
        const was = before ? before[c] : null;
        if (was === after) continue;
        if (was !== null) remove.push({ id, key: was });
        if (after !== null) insert.push({ id, key: after });
      }
      if (!remove.length && !insert.length) continue;
      moved = true;
      // Keys as the array was sorted: the old ones of this batch's accounts, the current ones of the others.
      const sortedKey = (id: number) => {
        const before = pending.before.get(id);
        if (before !== undefined) return before ? before[c] : '';
        return keyOf(this.entryOf(id)!, c);
      };
      let order = this.orders[c];
      if (remove.length > SPLICE_MAX) {
        const gone = new Set(remove.map((r) => r.id));
        order = order.filter((id) => !gone.has(id));
      } else {
        for (const r of remove) {
          const at = lowerBound(order, r.key, r.id, sortedKey);
          if (order[at] === r.id) order.splice(at, 1);
        }
      }
      // What remains is sorted by current keys (every account whose key moved is out).
      const currentKey = (id: number) => keyOf(this.entryOf(id)!, c);
      if (insert.length > SPLICE_MAX) order = insertSorted(order, insert, currentKey);
      else for (const r of insert) order.splice(lowerBound(order, r.key, r.id, currentKey), 0, r.id);
      this.orders[c] = order;
    }
    if (moved) this.changed();
  }

  /** A searched column of some account changed: what words found, and the ranks, no longer hold. */
  private changed(): void {
    this.found.clear();
    this.foundSize = 0;
    this.ranks = null;
  }

  /** A page of ids in username order, and how many there are. */
  page(dir: 'asc' | 'desc', offset: number, limit: number): { ids: number[]; count: ListCount } {
    return { ids: slice(this.orders[0], dir, offset, limit), count: { n: this.orders[0].length, exact: true } };
  }

  /** A page of the users one word finds (lower-cased, trimmed), in username order, and how many it finds. */
  search(word: string, dir: 'asc' | 'desc', offset: number, limit: number): { ids: number[]; count: ListCount } {
    const m = this.matchesOf(word);
    const total = m.to - m.from + m.others.length;
    // Two runs of username positions, each ascending: the username's own range, and the others' matches.
    const ids: number[] = [];
    const order = this.orders[0];
    if (dir === 'asc') {
      let i = m.from;
      let j = 0;
      for (let k = 0; k < offset + limit && (i < m.to || j < m.others.length); k++) {
        const at = j >= m.others.length || (i < m.to && i < m.others[j]) ? i++ : m.others[j++];
        if (k >= offset) ids.push(order[at]);
      }
    } else {
      let i = m.to - 1;
      let j = m.others.length - 1;
      for (let k = 0; k < offset + limit && (i >= m.from || j >= 0); k++) {
        const at = j < 0 || (i >= m.from && i > m.others[j]) ? i-- : m.others[j--];
        if (k >= offset) ids.push(order[at]);
      }
    }
    return { ids, count: total > SEARCH_CAP ? { n: SEARCH_CAP + 1, exact: false } : { n: total, exact: true } };
  }

  /**
   * Where the users a word finds stand in username order: the username's prefix range [from, to), and the
   * positions of the users only another column finds (as repo.list's disjoint lookups), ascending.
   */
  private matchesOf(word: string): Matches {
    const known = this.found.get(word);
    if (known) return known;
    const ranks = this.rankArrays();
    const ranges = this.orders.map((order, c) => prefixRange(order, word, (id) => keyOf(this.entryOf(id)!, c)));
    const within = (c: number, id: number) => {
      const r = rankOf(ranks[c], id);
      return r >= ranges[c][0] && r < ranges[c][1];
    };
    let n = 0;
    for (let c = 1; c < COLUMNS; c++) n += ranges[c][1] - ranges[c][0];
    const others = new Int32Array(n);
    let found = 0;
    for (let c = 1; c < COLUMNS; c++) {
      const order = this.orders[c];
      for (let k = ranges[c][0]; k < ranges[c][1]; k++) {
        const id = order[k];
        let earlier = false;
        for (let p = 0; p < c && !earlier; p++) earlier = within(p, id);
        if (!earlier) others[found++] = rankOf(ranks[0], id);
      }
    }
    const m: Matches = { from: ranges[0][0], to: ranges[0][1], others: others.slice(0, found).sort() };
    // The oldest words go first, when too many are remembered or their positions take too much room.
    while (this.found.size && (this.found.size >= REMEMBERED_WORDS || this.foundSize + found > REMEMBERED_POSITIONS)) {
      const [oldest, gone] = this.found.entries().next().value!;
      this.found.delete(oldest);
      this.foundSize -= gone.others.length;
    }
    this.found.set(word, m);
    this.foundSize += found;
    return m;
  }

  /** Each account's position in each order, by id (made again after a change, when a search needs them). */
  private rankArrays(): Ranks[] {
    if (this.ranks) return this.ranks;
    let top = 0;
    for (const id of this.orders[0]) if (id > top) top = id;
    // Indexed by id while ids are dense enough (auto-increment, with Galera's steps); by a map otherwise.
    const dense = top <= 8 * this.orders[0].length + 1_000_000;
    this.ranks = this.orders.map((order) => {
      const rank: Ranks = dense ? new Int32Array(top + 1) : new Map<number, number>();
      if (rank instanceof Map) for (let k = 0; k < order.length; k++) rank.set(order[k], k);
      else for (let k = 0; k < order.length; k++) rank[order[k]] = k;
      return rank;
    });
    return this.ranks;
  }
}

type Ranks = Int32Array | Map<number, number>;

function rankOf(ranks: Ranks, id: number): number {
  return ranks instanceof Map ? (ranks.get(id) ?? -1) : ranks[id];
}

interface Matches {
  from: number;
  to: number;
  others: Int32Array;
}

function keysOf(e: DirectoryEntry): string[] {
  return [keyOf(e, 0), keyOf(e, 1), keyOf(e, 2), keyOf(e, 3)];
}

function byKeyThenId(a: { id: number; key: string }, b: { id: number; key: string }): number {
  return compareCodePoints(a.key, b.key) || a.id - b.id;
}

/** By UTF-16 code unit, which is code point order when no key has a unit from U+D800 up. */
function byUnitsThenId(a: { id: number; key: string }, b: { id: number; key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : a.id - b.id;
}
const FROM_D800 = /[\ud800-\uffff]/;

/** Sorts by (key, id) in code point order: with the engine's own comparison of strings when that is the same. */
function sortEntries(entries: Array<{ id: number; key: string }>): Array<{ id: number; key: string }> {
  const plain = !entries.some((e) => FROM_D800.test(e.key));
  return entries.sort(plain ? byUnitsThenId : byKeyThenId);
}

/** The first position whose (key, id) is not below (key, id). */
function lowerBound(order: number[], key: string, id: number, keyAt: (id: number) => string): number {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const other = order[mid];
    const c = compareCodePoints(keyAt(other), key) || other - id;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The positions [from, to) whose key starts with `prefix`. */
function prefixRange(order: number[], prefix: string, keyAt: (id: number) => string): [number, number] {
  const from = lowerBound(order, prefix, -Infinity, keyAt);
  let lo = from;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keyAt(order[mid]).startsWith(prefix)) lo = mid + 1;
    else hi = mid;
  }
  return [from, lo];
}

/**
 * The ids of the snapshot in order of column `c`, pausing every SLICE steps. Names repeat (thousands of
 * Annas): the ids are grouped by key first, and when there are far fewer keys than ids only the keys are
 * sorted, each group's ids numerically; unique columns (usernames, emails) are merge-sorted.
 */
async function orderOf(snapshot: Array<{ id: number; keys: string[] }>, c: number, compare: (a: { id: number; key: string }, b: { id: number; key: string }) => number): Promise<number[]> {
  const groups = new Map<string, number[]>();
  for (let i = 0; i < snapshot.length; i++) {
    if (i % SLICE === SLICE - 1) await pause();
    const { id, keys } = snapshot[i];
    const group = groups.get(keys[c]);
    if (group) group.push(id);
    else groups.set(keys[c], [id]);
  }
  const out: number[] = [];
  if (groups.size * 4 > snapshot.length) {
    for (const e of await sortInSlices(snapshot.map((e) => ({ id: e.id, key: e.keys[c] })), compare)) out.push(e.id);
    return out;
  }
  const keys = await sortInSlices([...groups.keys()].map((key) => ({ id: 0, key })), compare);
  let done = 0;
  for (const { key } of keys) {
    const ids = groups.get(key)!.sort((x, y) => x - y);
    for (const id of ids) out.push(id);
    if ((done += ids.length) >= SLICE) {
      done = 0;
      await pause();
    }
  }
  return out;
}

/**
 * A stable merge sort that pauses every SLICE steps: runs of RUN sorted by the engine, then merged pairwise
 * (the left one first on ties), so no step of a million-entry sort holds the event loop for long.
 */
async function sortInSlices<T>(items: T[], compare: (a: T, b: T) => number): Promise<T[]> {
  const RUN = 16_384;
  const n = items.length;
  for (let lo = 0, done = 0; lo < n; lo += RUN) {
    const run = items.slice(lo, lo + RUN).sort(compare);
    for (let k = 0; k < run.length; k++) items[lo + k] = run[k];
    if ((done += RUN) >= SLICE) {
      done = 0;
      await pause();
    }
  }
  let src = items;
  let dst: T[] = new Array(n);
  let steps = 0;
  for (let width = RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        dst[k++] = compare(src[j], src[i]) < 0 ? src[j++] : src[i++];
        if (++steps === SLICE) {
          steps = 0;
          await pause();
        }
      }
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
    }
    [src, dst] = [dst, src];
  }
  return src;
}

/**
 * Many entries put into an order at once: each one's place found by binary search (its key against the
 * order's), then the order copied once with them in between — no key read for every entry of a long order.
 */
function insertSorted(order: number[], entries: Array<{ id: number; key: string }>, keyAt: (id: number) => string): number[] {
  sortEntries(entries);
  const out: number[] = new Array(order.length + entries.length);
  let from = 0;
  let k = 0;
  for (const e of entries) {
    const at = lowerBound(order, e.key, e.id, keyAt);
    while (from < at) out[k++] = order[from++];
    out[k++] = e.id;
  }
  while (from < order.length) out[k++] = order[from++];
  return out;
}

function slice(order: number[], dir: 'asc' | 'desc', offset: number, limit: number): number[] {
  if (dir === 'asc') return order.slice(offset, offset + limit);
  const end = order.length - offset;
  return end <= 0 ? [] : order.slice(Math.max(0, end - limit), end).reverse();
}
