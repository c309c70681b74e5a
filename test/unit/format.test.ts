import { describe, expect, it } from 'vitest';
import { count, isoDateTime, number, qs } from '../../src/http/format';

/** The list formats fifty rows per page by arithmetic; it must write exactly what the standard calls write. */
describe('formatting helpers', () => {
  it('writes a time as Date#toISOString does, across leap years, centuries and the range edges', () => {
    const samples = [0, 1, 999, 86_399_999, 86_400_000, 951_782_400_000 /* 2000-02-29 */, 4_107_542_399_999 /* 2100-02-28 end */, 4_107_542_400_000, 253_402_300_799_999, 253_402_300_800_000, -1, 1.5];
    for (let i = 0; i < 5000; i++) samples.push(Math.floor(Math.random() * 253_402_300_800_000));
    for (const ms of samples) expect(isoDateTime(ms), String(ms)).toBe(new Date(ms).toISOString());
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
});
