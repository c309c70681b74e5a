import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, csrfFrom, PASSWORD, type TestApp } from '../support/app';

/**
 * Guessing stays slow under parallel fire: failed sign-ins are counted in the database before the password
 * is checked, and only as many guesses as the throttle allows are checked at all. On MariaDB the requests
 * really run at the same time (SQLite serialises writers), which is where the old read-then-write counter
 * lost updates: 30 wrong passwords at once left `failed_logins = 1`, and 29 wrong guesses plus the right
 * one signed in.
 */
let t: TestApp;
const FREE = 5;
beforeAll(async () => {
  t = await createTestApp({ throttle: { accountFailures: FREE, addressFailures: 1000, baseDelayMs: 60_000, maxDelayMs: 15 * 60_000, accountMemoryMs: 12 * 3600_000, addressMemoryMs: 3600_000 } });
});
afterAll(async () => t?.close());

/** A sign-in attempt from a fresh browser (own cookies, own CSRF token). */
async function attempt(username: string, password: string): Promise<number> {
  const agent = request.agent(t.server);
  const form = await agent.get('/login');
  const res = await agent.post('/login').type('form').send({ _csrf: csrfFrom(form.text), username, password });
  return res.status;
}

async function burst(username: string, passwords: string[]): Promise<number[]> {
  return Promise.all(passwords.map((p) => attempt(username, p)));
}

const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((acc, s) => ({ ...acc, [s]: (acc[s] ?? 0) + 1 }), {});

describe('sign-in throttling under parallel fire', () => {
  it('counts a burst of 30 wrong passwords exactly: only the free guesses are checked, the rest wait, and so does the right password', async () => {
    for (let trial = 0; trial < 3; trial++) {
      const username = `burst${trial}`;
      await t.makeUser({ username, role: 'analyst' });
      const statuses = await burst(username, Array.from({ length: 30 }, (_, i) => `wrong-password-${i}`));
      expect(tally(statuses)).toEqual({ 401: FREE, 429: 30 - FREE });
      // The counter in the database holds every checked guess, none lost to a concurrent write.
      const id = (await t.db('users').where({ username_lower: username }).first('id')).id;
      expect(Number((await t.db('sign_in_throttles').where({ key: `account:${id}` }).first()).failures)).toBe(FREE);
      // Every checked guess is in the audit log, and only those.
      const failed = await t.db('audit_events').where({ action: 'auth.sign_in_failed', object_label: username });
      expect(failed).toHaveLength(FREE);
      expect(failed.every((e: { after_json: string }) => !e.after_json.includes('wrong-password'))).toBe(true);
      // The owner's right password, right after, waits too: the account is throttled, not fooled.
      expect(await attempt(username, PASSWORD)).toBe(429);
    }
  });

  it('checks exactly one of 29 wrong guesses and the right password sent together when one guess is left', async () => {
    for (let trial = 0; trial < 5; trial++) {
      const username = `race${trial}`;
      await t.makeUser({ username, role: 'analyst' });
      for (let i = 0; i < FREE - 1; i++) expect(await attempt(username, `warm-up-${i}`)).toBe(401);
      const passwords = Array.from({ length: 29 }, (_, i) => `wrong-guess-${i}`);
      passwords.splice(trial * 6, 0, PASSWORD);
      const statuses = await burst(username, passwords);
      const counts = tally(statuses);
      // One guess was checked (a 401, or the sign-in when the right password took the last free guess);
      // the other 29 were refused before any password was checked.
      expect(counts[429]).toBe(29);
      expect((counts[401] ?? 0) + (counts[303] ?? 0)).toBe(1);
      if (!counts[303]) expect(statuses[trial * 6]).toBe(429);
    }
  });
});
