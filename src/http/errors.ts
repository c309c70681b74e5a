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
  ) {
    super(message);
  }
}

export const notFound = (what = 'Page') => new HttpError(404, 'not_found', `${what} not found.`);
export const forbidden = (message = 'You do not have permission to do that.') => new HttpError(403, 'forbidden', message);
export const conflict = (message: string, fields: Record<string, string> = {}) => new HttpError(409, 'conflict', message, fields);

/** Input that breaks a rule: a message per field, shown beside the field or returned as JSON details. */
export class ValidationError extends HttpError {
  constructor(fields: Record<string, string>, message = 'Please correct the highlighted fields.', status = 422, code = 'validation_failed') {
    super(status, code, message, fields);
  }
}
