/**
 * Building blocks of the OpenAPI document: JSON Schema (2020-12, the dialect of OpenAPI 3.1) helpers and
 * the shape of one operation as the feature files write it. src/api/openapi.ts turns the operations into
 * the document; the reference page (/api-docs) and the response checks of the test suite read that.
 */
import type { Requirement } from '../../http/routing';

/** A JSON Schema object (OpenAPI 3.1 Schema Object). Kept loose on purpose: the test compiles every one. */
export interface Schema {
  $ref?: string;
  type?: string | string[];
  format?: string;
  description?: string;
  enum?: readonly unknown[];
  const?: unknown;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  unevaluatedProperties?: boolean;
  items?: Schema;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  uniqueItems?: boolean;
  default?: unknown;
  examples?: unknown[];
  propertyNames?: Schema;
}

export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

export const str = (description?: string, extra: Schema = {}): Schema => ({ type: 'string', ...(description ? { description } : {}), ...extra });
export const int = (description?: string, extra: Schema = {}): Schema => ({ type: 'integer', ...(description ? { description } : {}), ...extra });
export const bool = (description?: string): Schema => ({ type: 'boolean', ...(description ? { description } : {}) });
export const time = (description?: string): Schema => ({ type: 'string', format: 'date-time', ...(description ? { description } : {}) });
export const arrayOf = (items: Schema, description?: string, extra: Schema = {}): Schema => ({
  type: 'array',
  items,
  ...(description ? { description } : {}),
  ...extra,
});
export const oneOf = (...schemas: Schema[]): Schema => ({ oneOf: schemas });

/** A primitive schema that may also be null (`type: [t, "null"]`); a `$ref` becomes `oneOf [ref, null]`. */
export function nullable(s: Schema): Schema {
  if (s.$ref || s.oneOf || s.allOf) return { oneOf: [s, { type: 'null' }] };
  if (s.type === undefined) return s; // any JSON value, null included
  const t = Array.isArray(s.type) ? s.type : [s.type ?? 'string'];
  return { ...s, type: [...t, 'null'] };
}

/** A database id (positive 32-bit integer). */
export const id = (description?: string): Schema => int(description, { minimum: 1, maximum: 2147483647 });
/** The optimistic-concurrency version a row carries. */
export const version = (description = 'Version of the row; send it back to refuse a save over a change made meanwhile (409).'): Schema =>
  int(description, { minimum: 1, maximum: 2147483647 });

/**
 * A response object: every property is always present unless listed in `optional`; no other property
 * appears (so the test notices a field the document forgot).
 */
export function obj(properties: Record<string, Schema>, options: { optional?: string[]; description?: string } = {}): Schema {
  const optional = new Set(options.optional ?? []);
  return {
    type: 'object',
    ...(options.description ? { description: options.description } : {}),
    required: Object.keys(properties).filter((k) => !optional.has(k)),
    properties,
    additionalProperties: false,
  };
}

/** A request body object: only the listed fields are accepted (an unknown field is a 400 naming it). */
export function input(properties: Record<string, Schema>, required: string[] = [], extra: Schema = {}): Schema {
  return { type: 'object', required, properties, additionalProperties: false, ...extra };
}

/** A page of an offset-paginated list: the shared wrapper plus `items` (and any extra properties). */
export function offsetPage(item: Schema, extra: Record<string, Schema> = {}): Schema {
  return {
    allOf: [ref('OffsetPage')],
    type: 'object',
    required: ['items', ...Object.keys(extra)],
    properties: { ...extra, items: arrayOf(item) },
    unevaluatedProperties: false,
  };
}

// ------------------------------------------------------------------------------------------ operations

export interface Parameter {
  description: string;
  schema: Schema;
  required?: boolean;
  example?: unknown;
}

export interface ResponseSpec {
  description: string;
  /** The JSON body; omitted for a response without a body. */
  schema?: Schema;
  headers?: Record<string, { description: string; schema: Schema; required?: boolean }>;
}

/** One API operation as a feature file describes it. */
export interface OperationSpec {
  /** Stable name for client generators, e.g. "listUsers". */
  operationId: string;
  tag: string;
  summary: string;
  description: string;
  /** The same requirement as the route table (checked by test/http/openapi.test.ts). */
  requires: Requirement;
  path?: Record<string, Parameter>;
  query?: Record<string, Parameter>;
  headers?: Record<string, Parameter>;
  body?: { description?: string; schema: Schema; example: unknown; required?: boolean };
  /** Success responses (2xx) with their bodies. */
  responses: Record<number, ResponseSpec>;
  /**
   * Error statuses this operation answers besides the ones every protected operation shares (401, 403,
   * 429) and the ones a JSON body brings (400, 413): each with the standard Error body. A string replaces
   * the default description.
   */
  errors: Partial<Record<400 | 401 | 403 | 404 | 409 | 422 | 429, string>>;
}

/** Operations keyed "METHOD /path/{param}" — the router's "/path/:param" with braces. */
export type OperationMap = Record<string, OperationSpec>;
