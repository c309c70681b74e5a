import type Koa from 'koa';
import { get, PUBLIC, SIGNED_IN } from '../http/routing';
import { page } from '../http/render';
import { openApiDocument } from './openapi';
import { referenceView } from './reference';

let serialized: string | undefined;

/** GET /api/v1/openapi.json: the document, without a token (it describes the API and holds no data). */
function openApiJson(ctx: Koa.Context) {
  ctx.set('Cache-Control', 'no-cache');
  ctx.type = 'application/json';
  // The document never changes while the process runs: serialize it (170 kB) once.
  ctx.body = serialized ??= JSON.stringify(openApiDocument());
}

/** GET /api-docs: the API reference, rendered from the same document. */
function reference(ctx: Koa.Context) {
  // The address the reader reached the console at (ctx.origin is the Origin header in Koa 3).
  page(ctx, 'api/reference', { title: 'API reference', ...referenceView(openApiDocument(), `${ctx.protocol}://${ctx.host}`) });
}

export const apiRoutes = [get('/openapi.json', PUBLIC, openApiJson)];
export const routes = [get('/api-docs', SIGNED_IN, reference)];
