import type Koa from 'koa';
import { Eta } from 'eta';
import { VIEWS_DIR } from '../paths';
import { takeFlash } from './session';
import { navigationFor } from './navigation';
import * as fmt from './format';

let eta: Eta | undefined;

export function configureViews(cache: boolean): void {
  eta = new Eta({ views: VIEWS_DIR, cache, autoEscape: true, escapeFunction: fmt.html, autoTrim: [false, 'nl'] });
}

function engine(): Eta {
  if (!eta) configureViews(false);
  return eta!;
}

/** True for requests htmx makes to swap part of a page (not history restores, which need the whole page). */
export function isHtmx(ctx: Koa.Context): boolean {
  return ctx.get('HX-Request') === 'true' && !ctx.get('HX-History-Restore-Request');
}

/**
 * True when htmx targets the element with this id (or a part of it, `id-…`), so the handler can answer
 * with just that fragment.
 */
export function wantsFragment(ctx: Koa.Context, id: string): boolean {
  if (!isHtmx(ctx)) return false;
  const target = ctx.get('HX-Target');
  const hash = target.lastIndexOf('#');
  const targetId = hash >= 0 ? target.slice(hash + 1) : target;
  return targetId === id || targetId.startsWith(`${id}-`);
}

export type ViewData = Record<string, unknown> & { title?: string };

function baseData(ctx: Koa.Context): Record<string, unknown> {
  return {
    user: ctx.state.user,
    csrf: ctx.state.csrfToken ?? '',
    path: ctx.path,
    fmt,
    query: ctx.query,
  };
}

export function renderToString(ctx: Koa.Context, view: string, data: ViewData = {}): string {
  return engine().render(view, { ...baseData(ctx), ...data });
}

/** A whole page: the view inside the layout, with navigation and flash messages. */
export function page(ctx: Koa.Context, view: string, data: ViewData = {}, status = 200): void {
  const body = renderToString(ctx, view, data);
  ctx.status = status;
  ctx.type = 'html';
  ctx.vary('HX-Request');
  ctx.body = encoded(
    engine().render('layout', {
      ...baseData(ctx),
      title: data.title ?? 'Gatehouse',
      body,
      flash: takeFlash(ctx),
      nav: navigationFor(ctx),
      /** Extra static scripts a page needs (e.g. passkeys); never inline. */
      scripts: Array.isArray(data.scripts) ? data.scripts : [],
    }),
  );
}

/**
 * The HTML as UTF-8 bytes, encoded once: a string body is measured (Buffer.byteLength) by Koa and encoded
 * again by Node's socket, each pass over a page of some 35 KB built from many pieces.
 */
function encoded(html: string): Buffer {
  return Buffer.from(html, 'utf8');
}

/** A fragment for an htmx swap (no layout). */
export function fragment(ctx: Koa.Context, view: string, data: ViewData = {}, status = 200): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.vary('HX-Request');
  ctx.body = encoded(renderToString(ctx, view, data));
}

/**
 * A confirmation: inside the console's <dialog> when htmx asked for it (`#modal-content`), else as a page
 * of its own (no JavaScript). By convention the dialog body is `<feature>/_<name>` and the page `<feature>/<name>`.
 */
export function confirmation(ctx: Koa.Context, view: string, data: ViewData, status = 200): void {
  const slash = view.lastIndexOf('/');
  if (wantsFragment(ctx, 'modal-content')) return fragment(ctx, `${view.slice(0, slash)}/_${view.slice(slash + 1)}`, data, status);
  page(ctx, view, data, status);
}

/** Redirect after a successful POST; htmx follows it with a full navigation via HX-Location-less redirect. */
export function redirectTo(ctx: Koa.Context, url: string): void {
  if (isHtmx(ctx)) {
    // Let htmx load the next page the same way a browser would, keeping history correct.
    ctx.set('HX-Redirect', url);
    ctx.status = 204;
    return;
  }
  ctx.status = 303;
  ctx.redirect(url);
}
