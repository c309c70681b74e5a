import type Koa from 'koa';
import { HttpError } from './errors';
import { confirmation, redirectTo, type ViewData } from './render';
import { flash } from './session';
import type { Handler } from './routing';

/**
 * The console's removal of an object, in one place: a confirmation (a page, or the dialog with htmx) that
 * says what goes with it, then the removal, which either says what happened on the next page or shows the
 * confirmation again with the refusal beside the fields it concerns.
 */
export interface RemovalFlow<T> {
  /** The confirmation view, e.g. 'users/remove'; its partial '_remove' is the dialog. */
  view: string;
  /** The object the route names (throws notFound). */
  load(ctx: Koa.Context): Promise<T>;
  /** What the confirmation shows, with the values of the form (what was chosen, on a refusal). */
  data(ctx: Koa.Context, subject: T, values: Record<string, string>): Promise<ViewData>;
  /** Removes it; returns the message to show and where to go next. */
  remove(ctx: Koa.Context, subject: T, body: Record<string, string>): Promise<{ message: string; redirect: string }>;
}

/** A refusal the confirmation can show: a client error other than the object having gone (404). */
export const isRefusal = (e: unknown): e is HttpError => e instanceof HttpError && e.status < 500 && e.status !== 404;

export function removalFlow<T>(flow: RemovalFlow<T>): { confirm: Handler; remove: Handler } {
  const render = async (ctx: Koa.Context, subject: T, values: Record<string, string> = {}, errors: Record<string, string> = {}, status = 200) =>
    confirmation(ctx, flow.view, { ...(await flow.data(ctx, subject, values)), errors }, status);
  return {
    confirm: async (ctx) => render(ctx, await flow.load(ctx)),
    remove: async (ctx) => {
      const subject = await flow.load(ctx);
      const body = (ctx.request.body ?? {}) as Record<string, string>;
      try {
        const done = await flow.remove(ctx, subject, body);
        flash(ctx, 'success', done.message);
        redirectTo(ctx, done.redirect);
      } catch (e) {
        if (!isRefusal(e)) throw e;
        await render(ctx, subject, body, Object.keys(e.fields).length ? e.fields : { _: e.message }, e.status);
      }
    },
  };
}
