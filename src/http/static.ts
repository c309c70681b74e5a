import path from 'node:path';
import type Koa from 'koa';
import send from 'koa-send';
import { PUBLIC_DIR, ROOT_DIR } from '../paths';

/** Files served under /static: our stylesheet and script, and htmx straight from node_modules (no build step). */
const VENDOR: Record<string, { root: string; file: string }> = {
  '/static/htmx.min.js': { root: path.join(ROOT_DIR, 'node_modules', 'htmx.org', 'dist'), file: 'htmx.min.js' },
  // WebAuthn in the browser (passkeys): the library's own bundle, exposing SimpleWebAuthnBrowser.
  '/static/simplewebauthn-browser.js': { root: path.join(ROOT_DIR, 'node_modules', '@simplewebauthn', 'browser', 'dist', 'bundle'), file: 'index.umd.min.js' },
};

export function staticFiles(): Koa.Middleware {
  return async (ctx, next) => {
    if (!ctx.path.startsWith('/static/') || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    const vendor = VENDOR[ctx.path];
    const options = { maxage: 3600_000, immutable: false, gzip: false, brotli: false };
    if (vendor) {
      await send(ctx, vendor.file, { ...options, root: vendor.root });
      return;
    }
    const rel = ctx.path.slice('/static/'.length);
    if (!/^[a-z0-9][a-z0-9._-]*\.(css|js|svg|png|ico)$/i.test(rel)) return next();
    try {
      await send(ctx, rel, { ...options, root: PUBLIC_DIR });
    } catch (e) {
      if ((e as { status?: number }).status === 404) return next();
      throw e;
    }
  };
}
