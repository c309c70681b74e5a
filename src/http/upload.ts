/**
 * File uploads (multipart/form-data) for the console, streamed: busboy reads the request, the fields sent
 * before the file land in `ctx.request.body` (so the CSRF check that follows sees the form's `_csrf`), and
 * the file itself is handed on as a stream in `ctx.state.upload` for the route to read as it arrives — a
 * 10 MB CSV is parsed while it uploads, never buffered whole. Forms that upload put their hidden fields
 * before the file input; fields after it are not read.
 */
import type { Readable } from 'node:stream';
import type Koa from 'koa';
import busboy from 'busboy';
import { HttpError } from './errors';

export interface Upload {
  field: string;
  filename: string;
  mimeType: string;
  stream: Readable & { truncated?: boolean };
}

declare module 'koa' {
  interface DefaultState {
    upload?: Upload;
  }
}

export const MAX_UPLOAD_BYTES = 64 * 1024 * 1024;

export function multipartUpload(options: { maxFileBytes?: number } = {}): Koa.Middleware {
  const maxFileBytes = options.maxFileBytes ?? MAX_UPLOAD_BYTES;
  return async (ctx, next) => {
    if (!ctx.is('multipart/form-data') || ctx.method !== 'POST') return next();
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: ctx.req.headers, limits: { files: 1, fileSize: maxFileBytes, fields: 50, fieldSize: 64 * 1024 } });
    } catch {
      throw new HttpError(400, 'malformed_body', 'The upload could not be read.');
    }
    const fields: Record<string, string> = {};
    const upload = await new Promise<Upload | undefined>((resolve, reject) => {
      parser.on('field', (name, value) => {
        if (!(name in fields)) fields[name] = value;
      });
      parser.on('file', (field, stream, info) => resolve({ field, filename: info.filename ?? '', mimeType: info.mimeType, stream }));
      parser.on('close', () => resolve(undefined));
      parser.on('error', () => reject(new HttpError(400, 'malformed_body', 'The upload could not be read.')));
      ctx.req.pipe(parser);
    });
    (ctx.request as { body?: unknown }).body = fields;
    if (upload) ctx.state.upload = upload;
    try {
      await next();
    } finally {
      // A route that refused the request without reading the file still lets the upload finish.
      if (upload && !upload.stream.readableEnded) upload.stream.resume();
    }
  };
}
