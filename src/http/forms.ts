import type Joi from 'joi';
import { ValidationError } from './errors';

/** Messages in the voice of the console rather than Joi's defaults. */
const MESSAGES: Joi.LanguageMessages = {
  'any.required': '{#label} is required.',
  'string.empty': '{#label} is required.',
  'string.base': '{#label} must be text.',
  'string.max': '{#label} must be at most {#limit} characters.',
  'string.min': '{#label} must be at least {#limit} characters.',
  'string.email': 'Enter a valid email address.',
  'string.pattern.name': '{#label} {#name}.',
  'string.pattern.base': '{#label} has characters that are not allowed.',
  'number.base': '{#label} must be a number.',
  'number.integer': '{#label} must be a whole number.',
  'number.min': '{#label} must be at least {#limit}.',
  'number.max': '{#label} must be at most {#limit}.',
  'any.only': 'Choose one of the offered values for {#label}.',
  'array.base': '{#label} must be a list.',
  'array.max': '{#label} may hold at most {#limit} items.',
  'object.unknown': '{#label} is not a known field.',
  'boolean.base': '{#label} must be true or false.',
};

export type FieldErrors = Record<string, string>;

/** A field name as it is reported: its path, dotted ("groups.3"). */
const fieldOf = (d: Joi.ValidationErrorItem) => (d.path.length ? d.path.join('.') : String(d.context?.key ?? '_'));

/**
 * Validates input against a schema, reporting every field at once. Returns the converted value, or
 * throws a ValidationError carrying a message per field.
 */
const VALIDATION_OPTIONS = (allowUnknown: boolean): Joi.ValidationOptions => ({
  abortEarly: false,
  convert: true,
  allowUnknown,
  stripUnknown: allowUnknown ? { arrays: false, objects: true } : false,
  messages: MESSAGES,
  errors: { wrap: { label: false } },
});

/**
 * Validates without throwing: the converted value and a message per failing field. Services use it to add
 * their own checks (a taken username, the password policy) so that every problem is reported at once.
 */
export function collect<T>(schema: Joi.Schema<T>, input: unknown, options: { allowUnknown?: boolean } = {}): { value: T; fields: FieldErrors } {
  const { value, error } = schema.validate(input, VALIDATION_OPTIONS(options.allowUnknown ?? true));
  const fields: FieldErrors = {};
  for (const d of error?.details ?? []) fields[fieldOf(d)] ??= d.message;
  return { value: value as T, fields };
}

/**
 * Validates input against a schema, reporting every field at once. Returns the converted value, or
 * throws a ValidationError carrying a message per field.
 */
export function validate<T>(schema: Joi.Schema<T>, input: unknown, options: { allowUnknown?: boolean; status?: number } = {}): T {
  const { value, fields } = collect(schema, input, options);
  if (Object.keys(fields).length) throw new ValidationError(fields, undefined, options.status);
  return value;
}

export interface StrictResult<T> {
  value: T;
  /** Fields (or parameters) the schema does not know: the request is malformed (400). */
  unknown: FieldErrors;
  /** Known fields whose value breaks a rule, `null` included where not allowed (422). */
  problems: FieldErrors;
}

/**
 * The strict reading of an API query or JSON body, in one place: nothing unknown is dropped, every field's
 * problem is reported at once, and (for a body) no default is filled in, so that only what was sent reaches
 * the service. Use `throwStrict` to turn the result into the error.
 */
export function checkStrict<T>(schema: Joi.Schema<T>, input: unknown, options: { noDefaults?: boolean } = {}): StrictResult<T> {
  const { value, error } = schema.validate(input, { ...VALIDATION_OPTIONS(false), noDefaults: !!options.noDefaults });
  const unknown: FieldErrors = {};
  const problems: FieldErrors = {};
  for (const d of error?.details ?? []) (d.type === 'object.unknown' ? unknown : problems)[fieldOf(d)] ??= d.message;
  return { value: value as T, unknown, problems };
}

/** Throws the error of a strict reading: 400 naming the unknown fields if any, else 422 with every problem. */
export function throwStrict(unknown: FieldErrors, problems: FieldErrors): void {
  const names = Object.keys(unknown);
  if (names.length) throw new ValidationError({ ...unknown, ...problems }, `Unknown field${names.length === 1 ? '' : 's'}: ${names.join(', ')}.`, 400);
  if (Object.keys(problems).length) throw new ValidationError(problems);
}

/** `checkStrict` then `throwStrict`: the converted value, or the error. */
export function validateStrict<T>(schema: Joi.Schema<T>, input: unknown, options: { noDefaults?: boolean } = {}): T {
  const r = checkStrict(schema, input, options);
  throwStrict(r.unknown, r.problems);
  return r.value;
}

/**
 * Joi rule: the text still fits its column once stored in the lower-cased key column. Lower-casing can
 * lengthen text ('İ' becomes 'i̇', two characters); columns count characters (code points).
 */
export const fitsLowerCased = (max: number) => (value: string, helpers: Joi.CustomHelpers) =>
  [...value.toLowerCase()].length > max ? helpers.error('string.max', { limit: max }) : value;

/**
 * Form fields that may repeat (checkbox lists, multi-selects) arrive as a string or an array — or, past 20
 * repeats, as an object keyed "0", "1", … (the form parser's qs applies its arrayLimit to repeated keys).
 */
export function asArray(value: unknown): string[] {
  if (value === undefined || value === null || value === '') return [];
  const list = Array.isArray(value)
    ? value
    : typeof value === 'object'
      ? Object.entries(value as Record<string, unknown>)
          .filter(([k]) => /^\d+$/.test(k))
          .sort(([a], [b]) => Number(a) - Number(b))
          .map(([, v]) => v)
      : [value];
  return list.filter((v) => typeof v === 'string' || typeof v === 'number').map(String).filter((v) => v !== '');
}
