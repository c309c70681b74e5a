import type Koa from 'koa';
import Router from '@koa/router';
import compose from 'koa-compose';
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

/** The first segment of a path, lower-cased ('/users/12/edit' → 'users', '/' → ''). */
function firstSegment(path: string): string {
  const end = path.indexOf('/', 1);
  return (end < 0 ? path.slice(1) : path.slice(1, end)).toLowerCase();
}

/**
 * The console's routes, one router per first path segment (`/users…`, `/groups…`): a router tests every
 * route's pattern against each request, and with some 160 routes that was a tenth of a small page's CPU.
 * Each request meets only the routes of its segment, with the same matching (case-insensitive, trailing
 * slash optional) and the same 405/501 answers (`allowedMethods`); every console path starts with a literal
 * segment (checked here), so no route can be missed.
 */
export function consoleRoutes(groups: RouteDef[][], registry: MountedRoute[]): Koa.Middleware {
  const routers = new Map<string, Router>();
  for (const defs of groups) {
    for (const def of defs) {
      const segment = firstSegment(def.path);
      if (/[:*(]/.test(segment)) throw new Error(`Console route ${def.method} ${def.path}: its first segment must be literal.`);
      let router = routers.get(segment);
      if (!router) routers.set(segment, (router = new Router()));
      mount(router, [def], registry);
    }
  }
  const chains = new Map([...routers].map(([segment, r]) => [segment, compose([r.routes(), r.allowedMethods()] as Koa.Middleware[])]));
  return (ctx, next) => {
    const chain = chains.get(firstSegment(ctx.path));
    return chain ? chain(ctx, next) : next();
  };
}

/** A route parameter as a positive integer id, or a 404. */
export function idParam(ctx: Koa.Context, name = 'id'): number {
  const raw = (ctx as unknown as { params: Record<string, string> }).params[name];
  if (!/^[1-9][0-9]{0,9}$/.test(raw ?? '')) throw new HttpError(404, 'not_found', 'Not found.');
  const n = Number(raw);
  if (n > 2147483647) throw new HttpError(404, 'not_found', 'Not found.');
  return n;
}
