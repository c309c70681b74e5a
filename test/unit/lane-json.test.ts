/**
 * The decision lane's body parser (src/http/decisionLane.ts parseJson) parses a large batch in pieces and its
 * answer writer (answerJson) serialises a long list in pieces: both must give exactly what parsing and
 * serialising the whole gives — the same value, or the same error — whatever the body holds.
 */
import Bourne from '@hapi/bourne';
import { describe, expect, it } from 'vitest';
import { answerJson, parseJson } from '../../src/http/decisionLane';

const STRICT_JSON = /^[\x20\x09\x0a\x0d]*[[{]/;

/** The lane's parser before it learnt to cut: the body decoded whole, then @hapi/bourne. */
function parseWhole(body: Buffer): unknown {
  const text = body.toString('utf8').replace(/^\uFEFF/, '');
  if (!STRICT_JSON.test(text)) throw new SyntaxError('invalid JSON, only supports object and array');
  return Bourne.parse(text, { protoAction: 'error' });
}

function outcome(parse: () => unknown): string {
  try {
    return `value ${JSON.stringify(parse())}`;
  } catch (err) {
    return `error ${(err as Error).constructor.name}: ${(err as Error).message}`;
  }
}

let seed = 7;
const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
const item = (i: number) => ({
  // Now and then a string that holds what a cut looks for, or characters beyond ASCII.
  user: `u${i}${random() < 0.05 ? '},{"x":1' : ''}${random() < 0.02 ? 'é€😀' : ''}`,
  domain: 'Files',
  operation: 'R',
  workspace: `/Root/${'x'.repeat(Math.floor(random() * 150))}`,
  ...(random() < 0.3 ? { level: 2, nested: [{ a: 1 }, { b: 2 }] } : {}),
});
const batch = (n: number) => JSON.stringify({ checks: Array.from({ length: n }, (_, i) => item(i)) });

describe('the decision lane parses a large body in pieces', () => {
  const b = batch(1500);
  const cases: Record<string, string> = {
    small: batch(10),
    'a 1,000-item batch': batch(1000),
    'a 3,000-item list': batch(3000),
    'a byte-order mark': `\uFEFF${b}`,
    'whitespace around': `  ${b} \n`,
    'whitespace before the end': `${b.slice(0, -2)}]  } `,
    'trailing garbage': `${b}x`,
    'cut short': b.slice(0, -1),
    'another key after the list': b.replace(/]}$/, '],"k":[1]}'),
    'the same key again after the list': b.replace(/]}$/, '],"checks":5}'),
    'another key before the list': `{"a":1,${b.slice(1)}`,
    'the same key before the list': `{"checks":1,${b.slice(1)}`,
    'a __proto__ list': b.replace('{"checks"', '{"__proto__"'),
    'a __proto__ key in an item': b.replace('"user":"u700"', '"__proto__":{"x":1},"user":"u700"'),
    'a top-level list': b.replace(/^\{"checks":/, '[').replace(/}$/, ''),
    'a list of lists': b.replace('{"checks":[', '{"checks":[[').replace(/]}$/, ']]}'),
    'items on lines of their own': b.replace(/},\{/g, '},\n{'),
    'an escaped quote before a cut-like string': b.replace(/"u1200"/, '"u1200\\"},{\\""'),
  };
  for (let k = 0; k < 30; k++) {
    const s = batch(1200);
    const at = Math.floor(random() * s.length);
    cases[`one byte dropped (${k})`] = s.slice(0, at) + s.slice(at + 1);
  }
  for (const [name, body] of Object.entries(cases)) {
    it(name, () => {
      const buf = Buffer.from(body);
      expect(outcome(() => parseJson(buf))).toBe(outcome(() => parseWhole(buf)));
    });
  }
});

describe('the decision lane writes a long answer in pieces', () => {
  const cases: Record<string, unknown> = {
    '1,000 results': { results: Array.from({ length: 1000 }, (_, i) => ({ a: i, s: `é€😀"\\\n${i}`, u: undefined, n: null })) },
    'holes and undefined': { results: Array.from({ length: 65 }, (_, i) => (i % 3 ? undefined : i)) },
    'a list just short of a piece': { results: Array.from({ length: 64 }, (_, i) => i) },
    dates: { evaluations: Array.from({ length: 129 }, (_, i) => ({ decision: i % 2 === 0, context: { at: new Date(i) } })) },
    'two keys': { a: 1, results: Array.from({ length: 100 }, (_, i) => i) },
    'a key to escape': { '"k\u2028': Array.from({ length: 200 }, (_, i) => 'x'.repeat(i)) },
    'a list': [1, 2],
    'one decision': { allowed: true },
  };
  for (const [name, value] of Object.entries(cases)) {
    it(name, () => {
      const out = answerJson(value);
      expect(typeof out === 'string' ? out : out.toString('utf8')).toBe(JSON.stringify(value));
    });
  }
});
