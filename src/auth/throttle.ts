/**
 * Throttling of guesses (passwords and second-factor codes), by account and by client address, with
 * progressive delays as Keycloak's brute-force detection has them: the first few failures are free, then
 * each further guess waits (30 s, 1 min, 2 min, … up to 15 min by default) before it is checked at all.
 *
 * Nothing here locks an account: its sessions, its API tokens and the decisions about it are untouched, and
 * the owner signing in from a browser where they completed a sign-in before (a "known device", OWASP's
 * device cookie) is counted on that device's own budget, so an attacker guessing elsewhere cannot keep them
 * out. The per-address counter slows password spraying across many accounts.
 *
 * A guess is counted before it is checked, in one transaction that locks the counters' rows: under parallel
 * fire every guess is counted exactly, and only the guesses the counters allow are checked.
 */
import { isIP } from 'node:net';
import { createHash } from 'node:crypto';
import type { Conn, Tx } from '../db/connect';
import { isMysql } from '../db/connect';
import { transaction } from '../db/transaction';
import { presenceChanged } from '../users/presence';
import type { ThrottleConfig } from '../config';

export type ThrottleKey = `account:${number}` | `device:${string}` | `name:${string}` | `address:${string}`;

export interface GuessKeys {
  /** Whose budget the guess spends: the account, a known device of it, or an unknown login name. */
  subject: ThrottleKey;
  address: ThrottleKey;
}

export const accountKey = (userId: number): ThrottleKey => `account:${userId}`;
export const deviceKey = (deviceId: string): ThrottleKey => `device:${deviceId}`;
/** Unknown logins are counted too (so throttling does not tell which names exist), under a hash: people type passwords into the username field. */
export const unknownNameKey = (login: string): ThrottleKey => `name:${createHash('sha256').update(login.trim().toLowerCase()).digest('hex')}`;

/** IPv4 as is; IPv6 by its /64, which anyone holding one address of it usually holds whole. */
export function addressKey(ip: string): ThrottleKey {
  const plain = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  if (isIP(plain) !== 6) return `address:${plain.slice(0, 64)}`;
  const expanded = plain.includes('::') ? expandIpv6(plain) : plain.split(':');
  return `address:${expanded.slice(0, 4).map((h) => h.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

function expandIpv6(ip: string): string[] {
  const [left, right] = ip.split('::');
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  return [...l, ...Array<string>(8 - l.length - r.length).fill('0'), ...r];
}

interface Row {
  key: string;
  failures: number;
  last_failure_at: number;
  next_attempt_at: number;
}

/** The wait after the n-th failure: none within the free failures, then doubling from the base delay. */
export function delayAfter(failures: number, free: number, config: ThrottleConfig): number {
  if (failures < free) return 0;
  return Math.min(config.maxDelayMs, config.baseDelayMs * 2 ** Math.min(30, failures - free));
}

const memoryOf = (key: string, config: ThrottleConfig) => (key.startsWith('address:') ? config.addressMemoryMs : config.accountMemoryMs);
const freeOf = (key: string, config: ThrottleConfig) => (key.startsWith('address:') ? config.addressFailures : config.accountFailures);

/**
 * Makes sure the counters' rows exist, outside the transaction that locks them: an insert that meets an
 * existing row takes a shared lock on it, and shared locks held while asking for exclusive ones deadlock
 * under parallel fire.
 */
async function ensureRows(db: Conn, keys: string[]): Promise<void> {
  const existing = new Set((await db('sign_in_throttles').whereIn('key', keys).select('key')).map((r: { key: string }) => r.key));
  const missing = keys.filter((k) => !existing.has(k));
  if (missing.length) {
    await db('sign_in_throttles')
      .insert(missing.map((key) => ({ key, failures: 0, last_failure_at: 0, next_attempt_at: 0 })))
      .onConflict('key')
      .ignore();
  }
}

async function lockRows(trx: Tx, keys: string[]): Promise<Map<string, Row>> {
  const read = async () => {
    // Sorted, so two transactions wanting the same rows take their locks in the same order.
    const q = trx('sign_in_throttles').whereIn('key', [...keys].sort()).orderBy('key');
    if (isMysql(trx)) q.forUpdate();
    return (await q) as Row[];
  };
  let rows = await read();
  if (rows.length < keys.length) {
    // Removed by the housekeeping between ensureRows and now: create them here (rare).
    await ensureRows(trx, keys);
    rows = await read();
  }
  return new Map(rows.map((r) => [r.key, { key: r.key, failures: Number(r.failures), last_failure_at: Number(r.last_failure_at), next_attempt_at: Number(r.next_attempt_at) }]));
}

/** Failures still remembered (forgotten after a quiet period). */
const remembered = (r: Row, now: number, config: ThrottleConfig) => (r.last_failure_at + memoryOf(r.key, config) < now ? 0 : r.failures);

export type Claim =
  | { allowed: true; subjectFailures: number; addressFailures: number; /** this guess, if wrong, starts the waits */ engagesThrottle: 'account' | 'address' | null }
  | { allowed: false; retryAfterMs: number; by: 'account' | 'address' };

/**
 * Counts one guess against both counters, as a failure, before it is checked; or refuses it, counting
 * nothing, while either counter says to wait. A guess that proves right is taken back by `guessSucceeded`.
 */
export async function claimGuess(db: Conn, config: ThrottleConfig, keys: GuessKeys, now = Date.now()): Promise<Claim> {
  await ensureRows(db, [keys.subject, keys.address]);
  return transaction(db, async (trx) => {
    const rows = await lockRows(trx, [keys.subject, keys.address]);
    const subject = rows.get(keys.subject)!;
    const address = rows.get(keys.address)!;
    const waits = [subject, address].filter((r) => remembered(r, now, config) > 0 && r.next_attempt_at > now);
    if (waits.length) {
      const longest = waits.reduce((a, b) => (b.next_attempt_at > a.next_attempt_at ? b : a));
      return { allowed: false, retryAfterMs: longest.next_attempt_at - now, by: longest.key.startsWith('address:') ? 'address' : 'account' };
    }
    const counted: Record<string, number> = {};
    let pausesAccount = false;
    for (const r of [subject, address]) {
      const failures = remembered(r, now, config) + 1;
      counted[r.key] = failures;
      const wait = delayAfter(failures, freeOf(r.key, config), config);
      await trx('sign_in_throttles').where({ key: r.key }).update({ failures, last_failure_at: now, next_attempt_at: wait ? now + wait : 0 });
      if (wait && r.key.startsWith('account:')) pausesAccount = true;
    }
    // An account paused by this guess shows as locked on the users list (src/users/presence.ts).
    if (pausesAccount) presenceChanged(trx);
    const engages =
      counted[keys.subject] === config.accountFailures ? 'account' : counted[keys.address] === config.addressFailures ? 'address' : null;
    return { allowed: true, subjectFailures: counted[keys.subject], addressFailures: counted[keys.address], engagesThrottle: engages };
  });
}

/**
 * The guess claimed with `claim` was right. It counts as a sign-in only if the account did not become
 * throttled while it was being checked (other guesses counted after it reached the limit): then it is
 * refused like any guess during a wait. Otherwise the subject's failures are forgotten and the address's
 * failure count taken back (an address's failures are never wiped by a success: one valid account must not
 * reset a spraying attacker's counter).
 */
export async function guessSucceeded(
  db: Conn,
  config: ThrottleConfig,
  keys: GuessKeys,
  claim: Extract<Claim, { allowed: true }>,
  now = Date.now(),
): Promise<{ ok: true } | { ok: false; retryAfterMs: number }> {
  return transaction(db, async (trx) => {
    const rows = await lockRows(trx, [keys.subject, keys.address]);
    const subject = rows.get(keys.subject)!;
    if (subject.failures > claim.subjectFailures && subject.failures >= config.accountFailures && subject.next_attempt_at > now) {
      return { ok: false, retryAfterMs: subject.next_attempt_at - now };
    }
    await trx('sign_in_throttles').where({ key: keys.subject }).update({ failures: 0, next_attempt_at: 0 });
    if (subject.next_attempt_at > now) presenceChanged(trx);
    const address = rows.get(keys.address)!;
    const failures = Math.max(0, address.failures - 1);
    await trx('sign_in_throttles')
      .where({ key: keys.address })
      .update({ failures, next_attempt_at: failures >= config.addressFailures ? address.next_attempt_at : 0 });
    return { ok: true };
  });
}

/** Forgets an account's failures (an administrator's "unlock", a password reset). */
export async function clearAccount(db: Conn, userId: number): Promise<void> {
  await db('sign_in_throttles').where({ key: accountKey(userId) }).delete();
  presenceChanged(db);
}

/** When the account's next guess will be checked, if it must wait now. */
export async function accountWaitUntil(db: Conn, userId: number, now = Date.now()): Promise<{ until: number; failures: number } | null> {
  const r = await db('sign_in_throttles').where({ key: accountKey(userId) }).first();
  if (!r || Number(r.next_attempt_at) <= now) return null;
  return { until: Number(r.next_attempt_at), failures: Number(r.failures) };
}

/** Counters nobody has failed on for longer than they are remembered. */
export async function removeStale(db: Conn, config: ThrottleConfig, now = Date.now()): Promise<number> {
  const horizon = now - Math.max(config.accountMemoryMs, config.addressMemoryMs, config.maxDelayMs);
  return db('sign_in_throttles').where('last_failure_at', '<', horizon).andWhere('next_attempt_at', '<', now).delete();
}
