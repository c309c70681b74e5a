/**
 * AuthZEN calls for tests: every request the suite sends to /access/v1/evaluation(s) and every decision it
 * gets back are validated against the official JSON Schemas (test/fixtures/authzen/, from openid/authzen);
 * a mismatch fails the test that made the call. The OpenAPI recorder (test/support/openapi.ts) checks the
 * same answers against Gatehouse's own document.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { expect } from 'vitest';
import type { TestApp } from './app';
import { ROOT_DIR } from '../../src/paths';

const FIXTURES = path.join(ROOT_DIR, 'test', 'fixtures', 'authzen');
const ajv = new Ajv2020({ allErrors: true, strict: false });
const schema = (name: string): ValidateFunction => ajv.compile(JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8')));
export const validEvaluationRequest = schema('evaluation-request.schema.json');
export const validEvaluationResponse = schema('evaluation-response.schema.json');

export const scenario = JSON.parse(readFileSync(path.join(FIXTURES, 'authorization-api-1_0-scenario.json'), 'utf8'));

export type Endpoint = 'evaluation' | 'evaluations' | 'search/subject' | 'search/resource' | 'search/action';

function expectValid(fn: ValidateFunction, value: unknown, what: string): void {
  expect(fn(value), `${what} against the official AuthZEN schema: ${JSON.stringify(fn.errors)}\n${JSON.stringify(value).slice(0, 500)}`).toBe(true);
}

/** Every decision in an answer: the answer itself, or each item of `evaluations`. */
function decisionsIn(body: Record<string, unknown>): unknown[] {
  return Array.isArray(body.evaluations) ? body.evaluations : [body];
}

/**
 * POSTs an AuthZEN request. A request that is meant to be valid (`valid`: default true for evaluation) is
 * checked against the request schema first; every 200 answer of an evaluation endpoint, decision by
 * decision, against the response schema.
 */
export async function authzen(t: TestApp, token: string, endpoint: Endpoint, body: unknown, options: { valid?: boolean; headers?: Record<string, string> } = {}) {
  if (endpoint === 'evaluation' && (options.valid ?? true)) expectValid(validEvaluationRequest, body, 'request');
  let req = request(t.server).post(`/access/v1/${endpoint}`).set('Authorization', `Bearer ${token}`);
  for (const [k, v] of Object.entries(options.headers ?? {})) req = req.set(k, v);
  const res = await req.send(body as object);
  if (res.status === 200 && (endpoint === 'evaluation' || endpoint === 'evaluations')) {
    expect(res.headers['content-type']).toContain('application/json');
    for (const d of decisionsIn(res.body)) expectValid(validEvaluationResponse, d, `answer of ${endpoint}`);
  }
  return res;
}
