/**
 * AuthZEN requests already in the form their schemas (src/authzen/api.ts) produce — what a PEP sends. The
 * operations take them without a pass of the schema (`canonicalBody`, src/api/operation.ts), so a batch of
 * 1,000 evaluations is not judged field by field by Joi; anything else still goes through the schema.
 * These tests must never accept what the schemas refuse or would change: test/unit/canonical-check.test.ts.
 */
import { MAX_BATCH } from '../access/api';

type Plain = Record<string, unknown>;

const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isOptionalPlain = (v: unknown) => v === undefined || isPlain(v);
/** A request's own context: one carrying a consistency token goes through the schema, as /check's does (and, in the decision lane, the full path, which waits for it). */
const isRequestContext = (v: unknown) => v === undefined || (isPlain(v) && v.consistency_token === undefined);
const SEMANTICS = new Set<unknown>(['execute_all', 'deny_on_first_deny', 'permit_on_first_permit']);

const isSubject = (v: unknown) => isPlain(v) && isText(v.type) && isText(v.id) && isOptionalPlain(v.properties);
const isAction = (v: unknown) => isPlain(v) && isText(v.name) && isOptionalPlain(v.properties);
// A level the schema would convert ("2") or refuse goes through the schema.
const isLevel = (v: unknown) => v === undefined || (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 9);
const isResource = (v: unknown) => isPlain(v) && isText(v.type) && isText(v.id) && (v.properties === undefined || (isPlain(v.properties) && isLevel(v.properties.level)));

/** Entities an item or a batch's defaults may give; each must be whole when given. */
const hasValidParts = (v: Plain) =>
  (v.subject === undefined || isSubject(v.subject)) && (v.action === undefined || isAction(v.action)) && (v.resource === undefined || isResource(v.resource)) && isOptionalPlain(v.context);

export function isCanonicalEvaluation(body: unknown): boolean {
  return isPlain(body) && isSubject(body.subject) && isAction(body.action) && isResource(body.resource) && isRequestContext(body.context);
}

export function isCanonicalEvaluations(body: unknown): boolean {
  if (!isPlain(body) || !hasValidParts(body) || !isRequestContext(body.context)) return false;
  const { options, evaluations } = body;
  if (options !== undefined && !(isPlain(options) && (options.evaluations_semantic === undefined || SEMANTICS.has(options.evaluations_semantic)) && (options.explain === undefined || typeof options.explain === 'boolean'))) return false;
  return evaluations === undefined || (Array.isArray(evaluations) && evaluations.length <= MAX_BATCH && evaluations.every((e) => isPlain(e) && hasValidParts(e)));
}
