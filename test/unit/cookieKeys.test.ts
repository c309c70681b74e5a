import { describe, expect, it } from 'vitest';
import Keygrip from 'keygrip';
import { RememberingKeygrip } from '../../src/http/cookieKeys';

describe('the keys that sign cookies', () => {
  it('sign as Keygrip signs, and accept exactly what Keygrip accepts, before and after remembering', () => {
    const plain = new Keygrip(['secret-one']);
    const keys = new RememberingKeygrip(['secret-one']);
    const data = 'gh_sid=abc123';
    const genuine = plain.sign(data);
    expect(keys.sign(data)).toBe(genuine);
    for (let round = 0; round < 2; round++) {
      expect(keys.index(data, genuine)).toBe(0);
      expect(keys.verify(data, genuine)).toBe(true);
      // A digest one character off, a truncated one, one for other data: refused, remembered or not.
      const tampered = (genuine[0] === 'A' ? 'B' : 'A') + genuine.slice(1);
      expect(keys.index(data, tampered)).toBe(-1);
      expect(keys.index(data, genuine.slice(0, -1))).toBe(-1);
      expect(keys.verify('gh_sid=other', genuine)).toBe(false);
    }
  });

  it('a cookie signed with an older key still verifies, by its index, and a new signature uses the newest key', () => {
    const old = new Keygrip(['old-secret']);
    const keys = new RememberingKeygrip(['new-secret', 'old-secret']);
    const data = 'gh_return=/users';
    const signedBefore = old.sign(data);
    expect(keys.index(data, signedBefore)).toBe(1);
    expect(keys.index(data, signedBefore)).toBe(1);
    expect(keys.sign(data)).toBe(new Keygrip(['new-secret']).sign(data));
    expect(keys.sign(data)).not.toBe(signedBefore);
  });
});
