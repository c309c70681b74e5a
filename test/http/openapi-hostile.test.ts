import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app';
import { call, concrete, documentedOperations, exampleOf, makePathObjects } from '../support/api';
import { servedDocument } from '../support/openapi';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as licenses from '../../src/licenses/service';
import * as licenseRepo from '../../src/licenses/repo';
import type { Schema } from '../../src/api/openapi';

/**
 * Hostile input in every field, parameter and path segment of every operation, one test per operation and
 * kind of input. Whatever comes back must be a documented status with a documented body (checked by the
 * response recorder of createTestApp), never a 500. Each test makes its own objects to aim at; some payloads
 * are valid and change them.
 */
let t: TestApp;
let adminToken: string;
const doc = servedDocument();
const operations = documentedOperations(doc);

beforeAll(async () => {
  t = await createTestApp({ apiRateLimitPerMinute: 1_000_000 });
  await t.makeUser({ username: 'admin', role: 'superuser' });
  adminToken = await t.token('admin');
});
afterAll(async () => t?.close());

/** Fresh objects for the paths, and seats for them (a hostile seat limit of 0 is a valid change). */
async function aim() {
  for (const l of await licenseRepo.all(t.db)) if (l.seatLimit !== null) await licenses.setSeatLimit(t.db, SYSTEM_ACTOR, l.id, { seatLimit: null });
  return makePathObjects(t);
}

const HOSTILE: unknown[] = [
  '',
  '   ',
  'x'.repeat(5000),
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  'Robert"); DROP TABLE users;--',
  '\u0000nul',
  '👩‍💻 ünïcødé ﷽',
  'İ'.repeat(100),
  '../../etc/passwd',
  -1,
  0,
  1.5,
  2 ** 31,
  1e300,
  true,
  null,
  [],
  {},
  ['a', 1],
  { nested: { deep: true } },
];
const PATH_HOSTILE = ['%00', 'x'.repeat(3000), '%3Cscript%3E', "'%20OR%201=1", '..%2F..', '%F0%9F%91%A9', '-1', '0', '1e9', '99999999999999999999', 'name%20%20'];

const short = (v: unknown) => JSON.stringify(v)?.slice(0, 40);

describe('hostile JSON fields', () => {
  const withBody = operations.filter((o) => o.op.requestBody);
  it.each(withBody.map((o) => [o.key, o] as const))('%s: never a 500 or an undocumented answer', async (key, o) => {
    const objects = await aim();
    const media = o.op.requestBody.content['application/json'];
    const schema: Schema = media.schema.$ref ? doc.components.schemas[media.schema.$ref.split('/').pop()] : media.schema;
    for (const field of Object.keys(schema.properties ?? {})) {
      for (const value of HOSTILE) {
        const res = await call(t, adminToken, o.method, concrete(o.path, objects)).send({ ...exampleOf(o), [field]: value });
        expect(res.status, `${key} ${field}=${short(value)}: ${JSON.stringify(res.body).slice(0, 300)}`).toBeLessThan(500);
      }
    }
  });
});

describe('hostile query parameters', () => {
  const withQuery = operations.filter((o) => (o.op.parameters ?? []).some((p: { in: string }) => p.in === 'query'));
  it.each(withQuery.map((o) => [o.key, o] as const))('%s: never a 500 or an undocumented answer', async (key, o) => {
    const objects = await aim();
    for (const param of (o.op.parameters as Array<{ in: string; name: string }>).filter((x) => x.in === 'query')) {
      for (const value of HOSTILE) {
        if (typeof value === 'object' && value !== null) continue;
        const qs = `${param.name}=${encodeURIComponent(String(value))}`;
        const res = await call(t, adminToken, o.method, `${concrete(o.path, objects)}?${qs}`);
        expect(res.status, `${key}?${qs.slice(0, 60)}: ${JSON.stringify(res.body).slice(0, 300)}`).toBeLessThan(500);
      }
      // A repeated parameter arrives as a list.
      const res = await call(t, adminToken, o.method, `${concrete(o.path, objects)}?${param.name}=1&${param.name}=2`);
      expect(res.status, `${key} repeated ${param.name}`).toBeLessThan(500);
    }
  });
});

describe('hostile path segments', () => {
  const withParams = operations.filter((o) => o.path.includes('{'));
  it.each(withParams.map((o) => [o.key, o] as const))('%s: never a 500 or an undocumented answer', async (key, o) => {
    for (const value of PATH_HOSTILE) {
      const url = o.path.replace(/\{[^}]+\}/g, value);
      const res = await call(t, adminToken, o.method, url).send(exampleOf(o) ?? {});
      expect(res.status, `${key} with ${value.slice(0, 30)}: ${JSON.stringify(res.body).slice(0, 300)}`).toBeLessThan(500);
      expect(res.body.error ?? res.body, key).toBeTruthy();
    }
  });
});
