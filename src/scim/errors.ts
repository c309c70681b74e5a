/**
 * SCIM errors (RFC 7644 §3.12): `{schemas: [Error], status: "400", scimType, detail}`. The services throw
 * the house's typed errors (src/http/errors.ts); `asScimError` gives each the SCIM status and scimType a
 * directory acts on (uniqueness → it links the existing account, invalidValue → it reports the attribute).
 */
import { HttpError, ValidationError } from '../http/errors';
import { databaseErrorAsHttp } from '../db/errors';

export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive';

export class ScimError extends Error {
  constructor(
    readonly status: number,
    detail: string,
    readonly scimType?: ScimType,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }

  body() {
    return { schemas: [ERROR_SCHEMA], status: String(this.status), ...(this.scimType ? { scimType: this.scimType } : {}), detail: this.message };
  }
}

export const invalidValue = (detail: string) => new ScimError(400, detail, 'invalidValue');
export const invalidFilter = (detail: string) => new ScimError(400, detail, 'invalidFilter');
export const invalidSyntax = (detail: string) => new ScimError(400, detail, 'invalidSyntax');
export const mutability = (detail: string) => new ScimError(400, detail, 'mutability');
export const noTarget = (detail: string) => new ScimError(400, detail, 'noTarget');
export const scimNotFound = (what: 'User' | 'Group', id: string) => new ScimError(404, `${what} ${id} not found.`);

/** Field messages that say a unique value is taken (the services word them for the console). */
const UNIQUE_FIELDS: Record<string, string> = { username: 'userName', email: 'emails', externalId: 'externalId', name: 'displayName' };
const TAKEN = /taken|already (has|exists)/i;

/** SCIM attribute names for the services' form fields, so a detail names what the directory sent. */
const ATTRIBUTE_OF: Record<string, string> = {
  username: 'userName',
  firstName: 'name.givenName',
  lastName: 'name.familyName',
  email: 'emails',
  password: 'password',
  roleId: 'role',
  licenseTypeId: 'license',
  externalId: 'externalId',
  name: 'displayName',
  members: 'members',
  addGroupIds: 'groups',
  assets: 'assets',
  transferTo: 'assets',
};

/**
 * Any error from below as a SCIM error. `preconditionSent`: the request carried If-Match, so a version
 * conflict is a 412 (RFC 7644 §3.14) rather than a 409.
 */
export function asScimError(raw: unknown, preconditionSent = false): ScimError {
  if (raw instanceof ScimError) return raw;
  const e = raw instanceof HttpError ? raw : databaseErrorAsHttp(raw);
  if (!e) {
    const status = (raw as { status?: number })?.status;
    if (status === 413) return new ScimError(413, 'The request is too large.');
    if (status === 415) return new ScimError(415, 'Send the body as application/scim+json (or application/json).');
    if (status === 400) return invalidSyntax('The request body is not valid JSON.');
    return new ScimError(500, 'Something went wrong on our side. The error has been logged; please try again.');
  }
  const fields = Object.entries(e.fields);
  const detail = fields.length ? fields.map(([f, m]) => `${ATTRIBUTE_OF[f] ?? f}: ${m}`).join(' ') : e.message;
  if (fields.some(([f, m]) => UNIQUE_FIELDS[f] && TAKEN.test(m))) return new ScimError(409, detail, 'uniqueness', e.headers);
  if (e.code === 'seats_exhausted') return new ScimError(400, detail, 'invalidValue');
  if (e.status === 409 && e.code === 'conflict') return new ScimError(preconditionSent ? 412 : 409, e.message, undefined, e.headers);
  if (e.status === 429) return new ScimError(429, e.message, undefined, e.headers);
  if (e instanceof ValidationError && e.status === 422) return new ScimError(400, detail, 'invalidValue');
  if (e.status === 422 || e.status === 400) return new ScimError(400, detail, 'invalidValue');
  return new ScimError(e.status, detail, undefined, e.headers);
}
