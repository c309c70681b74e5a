import type Koa from 'koa';
import type Router from '@koa/router';
import type { AppPermission } from '../permissions/catalog';
import type { CurrentUser } from './types';
import { HttpError } from './errors';
import { rememberReturnTo } from './session';

/** What a route requires of its caller. Every route states one, beside its path. */
export type Requirement =
  | { kind: 'public' }
  | { kind: 'signedIn' }
  | { kind: 'anyOf'; permissions: AppPermission[] }
  | { kind: 'superuser' };

export const PUBLIC: Requirement = { kind: 'public' };
export const SIGNED_IN: Requirement = { kind: 'signedIn' };
export const SUPERUSER: Requirement = { kind: 'superuser' };
export const can = (...permissions: AppPermission[]): Requirement => ({ kind: 'anyOf', permissions });

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type Handler = (ctx: Koa.Context) => Promise<void> | void;

export interface RouteDef {
  method: Method;
  path: string;
  requires: Requirement;
  handler: Handler;
}

export const get = (path: string, requires: Requirement, handler: Handler): RouteDef => ({ method: 'GET', path, requires, handler });
export const post = (path: string, requires: Requirement, handler: Handler): RouteDef => ({ method: 'POST', path, requires, handler });
export const put = (path: string, requires: Requirement, handler: Handler): RouteDef => ({ method: 'PUT', path, requires, handler });
export const patch = (path: string, requires: Requirement, handler: Handler): RouteDef => ({ method: 'PATCH', path, requires, handler });
export const del = (path: string, requires: Requirement, handler: Handler): RouteDef => ({ method: 'DELETE', path, requires, handler });

/** Does the signed-in user meet the requirement? */
export function satisfies(ctx: Koa.Context, requires: Requirement): boolean {
  return satisfiedBy(ctx.state.user, requires);
}

/** Whether a caller (undefined: nobody signed in) meets a requirement. */
export function satisfiedBy(user: CurrentUser | undefined, requires: Requirement): boolean {
  switch (requires.kind) {
    case 'public':
      return true;
    case 'signedIn':
      return !!user;
    case 'superuser':
      return !!user?.isSuperuser;
    case 'anyOf':
      return !!user && requires.permissions.some((p) => user.permissions.has(p));
  }
}

function guard(requires: Requirement): Koa.Middleware {
  return async (ctx, next) => {
    if (requires.kind !== 'public' && !ctx.state.user) {
      if (ctx.method === 'GET') rememberReturnTo(ctx, ctx.originalUrl);
      ctx.status = 303;
      ctx.redirect('/login');
      if (ctx.get('HX-Request') === 'true') {
        ctx.status = 204;
        ctx.set('HX-Redirect', '/login');
      }
      return;
    }
    if (!satisfies(ctx, requires)) {
      const message =
        requires.kind === 'superuser' ? 'Only a Superuser may do this.' : 'Your role does not include the permission this page needs.';
      throw new HttpError(403, 'forbidden', message);
    }
    await next();
  };
}

/** Every mounted route with its requirement, for the route-refusal test and the API description. */
export interface MountedRoute extends RouteDef {
  api: boolean;
  /** The prefix its path is below ('' for the console, '/api/v1' for the JSON API). */
  prefix: string;
}

/** Mounts console routes, each behind its requirement (API operations: src/api/operation.ts). */
export function mount(router: Router, defs: RouteDef[], registry: MountedRoute[]): void {
  for (const def of defs) {
    registry.push({ ...def, api: false, prefix: '' });
    const chain: Koa.Middleware[] = [guard(def.requires), (ctx) => def.handler(ctx)];
    router.register(def.path, [def.method], chain as never);
  }
}

/** A route parameter as a positive integer id, or a 404. */
export function idParam(ctx: Koa.Context, name = 'id'): number {
  const raw = (ctx as unknown as { params: Record<string, string> }).params[name];
  if (!/^[1-9][0-9]{0,9}$/.test(raw ?? '')) throw new HttpError(404, 'not_found', 'Not found.');
  const n = Number(raw);
  if (n > 2147483647) throw new HttpError(404, 'not_found', 'Not found.');
  return n;
}
