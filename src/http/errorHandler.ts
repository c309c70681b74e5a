import type Koa from 'koa';
import { HttpError, notFound } from './errors';
import { databaseErrorAsHttp } from '../db/errors';
import { page } from './render';

const TITLES: Record<number, string> = {
  400: 'Bad request',
  401: 'Sign-in required',
  403: 'Access denied',
  404: 'Page not found',
  405: 'Method not allowed',
  409: 'Conflict',
  413: 'Request too large',
  415: 'Unsupported content type',
  422: 'Check your input',
  429: 'Too many requests',
  500: 'Something went wrong',
};

/** Turns anything thrown below into a friendly page or a JSON error; never leaks a stack trace. */
export function errorHandler(): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw notFound('Endpoint', 'There is nothing at this address.');
    } catch (raw) {
      const err = toHttpError(raw);
      if (err.status >= 500) ctx.app.emit('error', raw, ctx);
      ctx.status = err.status;
      if (err.status === 503) ctx.set('Retry-After', '1');
      for (const [name, value] of Object.entries(err.headers)) ctx.set(name, value);
      if (ctx.state.isApi || ctx.path.startsWith('/api/')) {
        ctx.body = {
          error: {
            code: err.code,
            message: err.message,
            details: Object.keys(err.fields).length ? { fields: err.fields, ...(err.details ? { info: err.details } : {}) } : (err.details ?? null),
          },
        };
        return;
      }
      try {
        page(ctx, 'errors/error', { title: TITLES[err.status] ?? 'Error', status: err.status, message: err.message, fields: err.fields }, err.status);
      } catch (renderError) {
        ctx.app.emit('error', renderError, ctx);
        ctx.type = 'text';
        ctx.body = err.message;
      }
    }
  };
}

function toHttpError(raw: unknown): HttpError {
  if (raw instanceof HttpError) return raw;
  const fromDatabase = databaseErrorAsHttp(raw);
  if (fromDatabase) return fromDatabase;
  const e = raw as { status?: number; statusCode?: number; expose?: boolean; message?: string; type?: string };
  const status = e?.status ?? e?.statusCode;
  if (status && status >= 400 && status < 500) {
    const message =
      status === 413 ? 'The request is too large.' : status === 415 ? 'Unsupported content type.' : e.expose && e.message ? e.message : TITLES[status] ?? 'Bad request';
    const code = status === 400 && e.type === 'entity.parse.failed' ? 'malformed_body' : (TITLES[status] ?? 'error').toLowerCase().replace(/\s+/g, '_');
    return new HttpError(status, code, status === 400 && e.type === 'entity.parse.failed' ? 'The request body is not valid JSON.' : message);
  }
  return new HttpError(500, 'internal_error', 'Something went wrong on our side. The error has been logged; please try again.');
}

/** For the body parsers: an unreadable body is the client's mistake (400, or 413 when too large), never a 500. */
export function bodyParseError(err: Error & { status?: number }): never {
  if (err.status === 413) throw new HttpError(413, 'too_large', 'The request is too large.');
  if (err.status === 415) throw new HttpError(415, 'unsupported_media_type', 'Unsupported content type.');
  throw new HttpError(400, 'malformed_body', 'The request body could not be read: send valid JSON (or form data from the console).');
}
