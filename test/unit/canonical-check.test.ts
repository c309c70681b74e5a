import { describe, expect, it } from 'vitest';
import { CheckRequest, isCanonicalBatch, isCanonicalCheck } from '../../src/access/api';
import { checkStrict } from '../../src/http/forms';
import { isCanonicalEvaluation, isCanonicalEvaluations } from '../../src/authzen/canonical';

/**
 * The decision operations skip their schema for bodies already in canonical form (src/api/operation.ts,
 * `canonicalBody`). That shortcut must never accept what the schema refuses, nor accept a value the schema
 * would change: every accepted question is tried against the schema here.
 */
const VALUES: Record<string, unknown[]> = {
  user: ['jane.doe', ' jane.doe', 'jane.doe ', '', 'x'.repeat(64), 'x'.repeat(65), '\u00a0jane', 'JANE', 7, null, undefined, ['jane'], 'a\u0000b'],
  domain: ['Processes', 'files', ' Files', '', 'd'.repeat(100), 'd'.repeat(101), 3, null, undefined],
  operation: ['R', 'M', 'C', 'D', 'r', ' R', 'X', '', 'RM', 1, null, undefined],
  workspace: ['/Root/Sales', ' /Root', '/Root ', '', 'w'.repeat(2000), 'w'.repeat(2001), 1, 0, -1, 2147483647, 2147483648, 1.5, '12', '/12', ' 12', '1e3', null, undefined, {}],
  level: [undefined, null, 0, 9, 10, -1, 1.5, '2', true],
};

function* questions(): Generator<Record<string, unknown>> {
  const keys = Object.keys(VALUES);
  const base = { user: 'jane.doe', domain: 'Processes', operation: 'M', workspace: '/Root/Sales', level: 2 };
  yield base;
  for (const key of keys) for (const v of VALUES[key]) yield { ...base, [key]: v };
  yield { ...base, extra: 1 };
  // Pairs of unusual values, deterministically.
  let seed = 7;
  const next = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  for (let i = 0; i < 2000; i++) {
    const q: Record<string, unknown> = {};
    for (const key of keys) {
      const v = VALUES[key][next(VALUES[key].length)];
      if (v !== undefined) q[key] = v;
    }
    yield q;
  }
}

describe('the canonical shortcut of the decision operations', () => {
  it('accepts a question only when the schema accepts it unchanged', () => {
    let accepted = 0;
    for (const q of questions()) {
      if (!isCanonicalCheck(q)) continue;
      accepted++;
      const r = checkStrict(CheckRequest, q, { noDefaults: true });
      expect({ unknown: r.unknown, problems: r.problems }, JSON.stringify(q)).toEqual({ unknown: {}, problems: {} });
      expect(r.value, JSON.stringify(q)).toEqual(q);
    }
    expect(accepted).toBeGreaterThan(20);
  });

  it('takes the questions programs send, and batches of them', () => {
    const q = { user: 'jane.doe', domain: 'Files', operation: 'R', workspace: 12 };
    expect(isCanonicalCheck(q)).toBe(true);
    expect(isCanonicalCheck({ ...q, level: null })).toBe(true);
    expect(isCanonicalBatch({ checks: Array.from({ length: 1000 }, () => q) })).toBe(true);
    expect(isCanonicalBatch({ checks: Array.from({ length: 1001 }, () => q) })).toBe(false);
    expect(isCanonicalBatch({ checks: [] })).toBe(false);
    expect(isCanonicalBatch({ checks: [q, { ...q, operation: 'r' }] })).toBe(false);
    expect(isCanonicalBatch({ checks: [q], more: true })).toBe(false);
  });
});

describe('the canonical shortcut of the AuthZEN evaluations', () => {
  const schemaOf = async (operationId: string) => {
    const { operations } = await import('../../src/authzen/api');
    return operations.find((o) => o.operationId === operationId)!.body as unknown as import('joi').Schema;
  };
  const PARTS: Record<string, unknown[]> = {
    subject: [{ type: 'user', id: 'alice' }, { type: 'user', id: 'alice', properties: { dept: 1 } }, { type: '', id: 'alice' }, { type: 'user' }, { type: 'user', id: 7 }, { type: 'user', id: 'a', properties: [] }, 'alice', null],
    action: [{ name: 'read' }, { name: 'write', properties: {} }, { name: '' }, {}, { name: 3 }, []],
    resource: [
      { type: 'record', id: 'record-1' },
      { type: 'processes', id: '/Root', properties: { level: 3 } },
      { type: 'processes', id: '/Root', properties: { level: '3' } },
      { type: 'processes', id: '/Root', properties: { level: 12 } },
      { type: 'processes', id: '/Root', properties: { level: 1.5 } },
      { type: 'processes', id: '/Root', properties: { other: true } },
      { type: 'record' },
      { type: 'record', id: '' },
    ],
    context: [undefined, {}, { consistency_token: '12' }, 'x', []],
  };
  const pick = (key: string, n: number) => PARTS[key][n % PARTS[key].length];

  it('leaves a request carrying a consistency token to the schema (and the decision lane to the full path, which waits for it)', () => {
    const ask = { subject: { type: 'user', id: 'alice' }, action: { name: 'read' }, resource: { type: 'record', id: 'record-1' } };
    expect(isCanonicalEvaluation({ ...ask, context: {} })).toBe(true);
    expect(isCanonicalEvaluation({ ...ask, context: { consistency_token: '12' } })).toBe(false);
    expect(isCanonicalEvaluations({ ...ask, context: { consistency_token: '12' }, evaluations: [{}] })).toBe(false);
    // An item's own context is not the request's: it carries no token the request waits for.
    expect(isCanonicalEvaluations({ ...ask, evaluations: [{ context: { consistency_token: '12' } }] })).toBe(true);
  });

  it('accepts an evaluation only when the schema accepts it unchanged', async () => {
    const schema = await schemaOf('authzenEvaluation');
    let accepted = 0;
    for (let i = 0; i < 1200; i++) {
      const body: Record<string, unknown> = { subject: pick('subject', i), action: pick('action', i * 7 + 1), resource: pick('resource', i * 3 + 2), extra: i % 5 === 0 ? 'kept' : undefined };
      const context = pick('context', i * 11);
      if (context !== undefined) body.context = context;
      if (body.extra === undefined) delete body.extra;
      if (!isCanonicalEvaluation(body)) continue;
      accepted++;
      const r = checkStrict(schema, body, { noDefaults: true });
      expect({ unknown: r.unknown, problems: r.problems }, JSON.stringify(body)).toEqual({ unknown: {}, problems: {} });
      expect(r.value, JSON.stringify(body)).toEqual(body);
    }
    expect(accepted).toBeGreaterThan(10);
  });

  it('accepts a batch only when the schema accepts it unchanged', async () => {
    const schema = await schemaOf('authzenEvaluations');
    let accepted = 0;
    for (let i = 0; i < 400; i++) {
      const items = Array.from({ length: 1 + (i % 4) }, (_, k) => (k % 2 ? { resource: pick('resource', i + k) } : { action: pick('action', i + k), resource: pick('resource', i * 5 + k) }));
      const body: Record<string, unknown> = { subject: pick('subject', i), evaluations: items };
      if (i % 3 === 0) body.options = { evaluations_semantic: ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit', 'sometimes'][i % 4] };
      if (!isCanonicalEvaluations(body)) continue;
      accepted++;
      const r = checkStrict(schema, body, { noDefaults: true });
      expect({ unknown: r.unknown, problems: r.problems }, JSON.stringify(body)).toEqual({ unknown: {}, problems: {} });
      expect(r.value, JSON.stringify(body)).toEqual(body);
    }
    expect(accepted).toBeGreaterThan(10);
    expect(isCanonicalEvaluations({ subject: { type: 'user', id: 'a' }, evaluations: Array.from({ length: 1001 }, () => ({})) })).toBe(false);
  });
});
