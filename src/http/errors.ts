/**
 * An error a user can act on. Services throw these; the error middleware turns them into the
 * friendly page or the JSON body `{error: {code, message, details}}`.
 */
export class HttpError extends Error {
  constructor(
    public readonly status: number,
    public readonly code: string,
    message: string,
    /** Field name → message, for validation errors. */
    public readonly fields: Record<string, string> = {},
    public readonly details: unknown = undefined,
    /** Response headers that belong to the error (WWW-Authenticate on a 401, Allow on a 405). */
    public readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The `details.type` of a not-found error: "License type" → "license_type". */
export const objectType = (what: string) => what.trim().toLowerCase().replace(/[^a-z0-9]+/g, '_');

/**
 * The one not-found error: code `not_found`, `details.type` naming the kind of object. The rule for the API:
 * an object named in the path that does not exist is a 404; one named in a body field or a query parameter
 * is a 422 on that field (see `ValidationError`).
 */
export const notFound = (what = 'Page', message = `${what} not found.`) => new HttpError(404, 'not_found', message, {}, { type: objectType(what) });
export const forbidden = (message = 'You do not have permission to do that.') => new HttpError(403, 'forbidden', message);
export const conflict = (message: string, fields: Record<string, string> = {}) => new HttpError(409, 'conflict', message, fields);

/** Input that breaks a rule: a message per field, shown beside the field or returned as JSON details. */
export class ValidationError extends HttpError {
  constructor(fields: Record<string, string>, message = 'Please correct the highlighted fields.', status = 422, code = 'validation_failed') {
    super(status, code, message, fields);
  }
}
