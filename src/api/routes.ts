import type Koa from 'koa';
import { get, SIGNED_IN } from '../http/routing';
import { page } from '../http/render';
import { apiDocument } from './surfaces';
import { referenceView } from './reference';

/** GET /api-docs: the API reference, rendered from the served document. */
function reference(ctx: Koa.Context) {
  // The address the reader reached the console at (ctx.origin is the Origin header in Koa 3).
  page(ctx, 'api/reference', { title: 'API reference', ...referenceView(apiDocument(ctx.services.config.baseUrl).document, `${ctx.protocol}://${ctx.host}`) });
}

export const routes = [get('/api-docs', SIGNED_IN, reference)];
