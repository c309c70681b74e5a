import { timingSafeEqual } from 'node:crypto';
import Keygrip from 'keygrip';

/** Signatures remembered at most (then forgotten all at once, and computed again as needed). */
const MAX_REMEMBERED = 10_000;

/**
 * The keys that sign the console's cookies: Keygrip (what Koa's cookies use by default), remembering the
 * signatures it made or found genuine. Every page verifies its session cookie, and a fresh HMAC per request
 * was about a tenth of a small page's CPU; a browser sends the same cookie for hours.
 *
 * Only a signature that verified (or that we made) is remembered, with the newest key; a digest is compared
 * with it in constant time, as Keygrip compares, so an attacker learns nothing from timing that Keygrip would
 * not tell. Older keys (rotation) are tried by Keygrip itself, every time.
 */
export class RememberingKeygrip {
  private readonly remembered = new Map<string, string>();
  // Keygrip sets its methods on each instance, so it is wrapped rather than extended.
  private readonly keygrip: Keygrip;

  constructor(keys: string[]) {
    this.keygrip = new Keygrip(keys);
  }

  sign(data: unknown): string {
    const text = String(data);
    const known = this.remembered.get(text);
    if (known !== undefined) return known;
    const signature = this.keygrip.sign(text);
    this.remember(text, signature);
    return signature;
  }

  verify(data: unknown, digest: string): boolean {
    return this.index(data, digest) > -1;
  }

  index(data: unknown, digest: string): number {
    const text = String(data);
    const known = this.remembered.get(text);
    if (known !== undefined && typeof digest === 'string' && sameText(known, digest)) return 0;
    const i = this.keygrip.index(text, digest);
    if (i === 0) this.remember(text, digest);
    return i;
  }

  private remember(data: string, signature: string): void {
    if (this.remembered.size >= MAX_REMEMBERED) this.remembered.clear();
    this.remembered.set(data, signature);
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
