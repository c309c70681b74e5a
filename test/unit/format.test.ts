import { describe, expect, it } from 'vitest';
import { count, dateTime, isoDateTime, number, qs, relative, timeAgo } from '../../src/http/format';

/** The list formats fifty rows per page by arithmetic; it must write exactly what the standard calls write. */
describe('formatting helpers', () => {
  it('writes a time as Date#toISOString does, across leap years, centuries and the range edges', () => {
    const samples = [0, 1, 999, 86_399_999, 86_400_000, 951_782_400_000 /* 2000-02-29 */, 4_107_542_399_999 /* 2100-02-28 end */, 4_107_542_400_000, 253_402_300_799_999, 253_402_300_800_000, -1, 1.5];
    for (let i = 0; i < 5000; i++) samples.push(Math.floor(Math.random() * 253_402_300_800_000));
    for (const ms of samples) expect(isoDateTime(ms), String(ms)).toBe(new Date(ms).toISOString());
  });

  it('writes a time for people to read, to the minute in UTC, and how long ago', () => {
    expect(dateTime(Date.UTC(2026, 11, 1, 9, 5, 59, 999))).toBe('2026-12-01 09:05 UTC');
    expect(dateTime(null)).toBe('—');
    const now = Date.UTC(2026, 11, 1, 12, 0, 0);
    expect(relative(now - 30_000, now)).toBe('just now');
    expect(relative(now - 5 * 60_000, now)).toBe('5 min ago');
    expect(relative(now - 3 * 3_600_000, now)).toBe('3 h ago');
    expect(relative(now - 2 * 86_400_000, now)).toBe('2 d ago');
    expect(relative(Date.UTC(2025, 0, 31, 23, 59), now)).toBe('2025-01-31');
    expect(relative(null, now)).toBe('never');
    expect(timeAgo(now - 5 * 60_000, now)).toBe('<time datetime="2026-12-01T11:55:00.000Z" title="2026-12-01 11:55 UTC">5 min ago</time>');
  });

  it('writes counts with thousands separators as toLocaleString("en-US") does', () => {
    const samples = [0, 1, -1, 999, 1000, -1000, 12_345, 999_999, 1_000_000, 123_456_789, Number.MAX_SAFE_INTEGER, 2.5];
    for (let i = 0; i < 2000; i++) samples.push(Math.floor((Math.random() - 0.2) * 10 ** Math.floor(Math.random() * 12)));
    for (const n of samples) expect(number(n), String(n)).toBe(n.toLocaleString('en-US'));
    expect(count(1, 'user')).toBe('1 user');
    expect(count(12_000, 'seat')).toBe('12,000 seats');
  });

  it('encodes query strings as URLSearchParams does, the same each time a value recurs', () => {
    const values = ['ann', 'a b', "it's (ok) ~!", 'é🙂', 'x&y=z', '\ud800lone', '+%'];
    for (let round = 0; round < 2; round++) {
      for (const v of values) {
        const expected = `?${new URLSearchParams({ q: v, sort: 'name' }).toString()}`;
        expect(qs({ q: v }, { sort: 'name' })).toBe(expected);
      }
    }
  });

  it('writes the keys in the order of the filters, an overridden key in its place, and leaves out empty ones', () => {
    const base = { q: 'ann', role: undefined, sort: 'username', dir: 'asc', tags: ['a', 'b'], page: 3 };
    const overrides = { sort: 'email', page: undefined, size: 100, empty: '' };
    expect(qs(base, overrides)).toBe(`?${new URLSearchParams([['q', 'ann'], ['sort', 'email'], ['dir', 'asc'], ['tags', 'a'], ['tags', 'b'], ['size', '100']]).toString()}`);
    expect(qs({})).toBe('');
  });
});
