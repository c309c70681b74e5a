import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app';
import type { MountedRoute } from '../../src/http/routing';

/**
 * Walks the router's full route list: every protected route must refuse an anonymous visitor
 * (redirect to sign-in, or 401 for the API) and a signed-in user without the permission (403).
 */
let t: TestApp;
let viewerToken: string;
let apiOnlyToken: string;

function concrete(path: string): string {
  return path.replace(/:username/g, 'admin').replace(/:[a-zA-Z]+/g, '1');
}

function send(agent: any, route: MountedRoute, csrf?: string) {
  const url = (route.api ? route.prefix : '') + concrete(route.path);
  const m = route.method.toLowerCase();
  const req = agent[m === 'delete' ? 'delete' : m](url);
  if (route.method !== 'GET') {
    if (route.api) return req.send({});
    return req.type('form').send({ _csrf: csrf ?? '' });
  }
  return req;
}

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'admin', role: 'superuser' });
  await t.makeUser({ username: 'viewer', role: 'viewer' });
  await t.makeUser({ username: 'administrator', role: 'administrator' });
  // A role with API access and nothing else: proves each API route also checks its own permission.
  // Made through the roles service, so that the change log tells the decision state about it.
  await t.make.makeRole('API only', { template: 'viewer', permissions: ['api.access'] });
  await t.makeUser({ username: 'apionly', role: 'API only' });
  viewerToken = await t.token('viewer');
  apiOnlyToken = await t.token('apionly');
});
afterAll(async () => t?.close());

describe('every route declares and enforces its requirement', () => {
  it('has routes to check', () => {
    expect(t.gate.routes.length).toBeGreaterThan(10);
    for (const r of t.gate.routes) expect(r.requires, `${r.method} ${r.path}`).toBeDefined();
  });

  it('refuses anonymous visitors: console routes redirect to sign-in, API routes answer 401', async () => {
    const anon = await t.anonymous();
    for (const route of t.gate.routes.filter((r) => r.requires.kind !== 'public')) {
      const res = await send(anon, route, anon.csrf);
      if (route.api) {
        expect(res.status, `${route.method} ${route.path}`).toBe(401);
        expect(res.body.error.code).toBe('unauthenticated');
      } else {
        expect(res.status, `${route.method} ${route.path}`).toBe(303);
        expect(res.headers.location).toBe('/login');
      }
    }
  });

  it('refuses a signed-in user without the permission with 403', async () => {
    const viewer = await t.signIn('viewer');
    const administrator = await t.signIn('administrator');
    for (const route of t.gate.routes.filter((r) => !r.api)) {
      const { kind } = route.requires;
      if (kind === 'public' || kind === 'signedIn') continue;
      const agent = kind === 'superuser' ? administrator : viewer;
      const res = await send(agent, route, agent.csrf);
      expect(res.status, `${route.method} ${route.path}`).toBe(403);
      expect(res.text).toContain('Access denied');
    }
  });

  it('refuses API tokens of users without "Access API", and of users lacking the route permission', async () => {
    const request = (await import('supertest')).default;
    for (const route of t.gate.routes.filter((r) => r.api && r.requires.kind !== 'public')) {
      const noApi = await send(request(t.server), route).set('Authorization', `Bearer ${viewerToken}`);
      expect(noApi.status, `${route.method} ${route.path}`).toBe(403);
      if (route.requires.kind === 'signedIn') continue;
      const apiOnly = await send(request(t.server), route).set('Authorization', `Bearer ${apiOnlyToken}`);
      expect(apiOnly.status, `${route.method} ${route.path}`).toBe(403);
      expect(apiOnly.body.error.code).toBe('forbidden');
    }
  });

  it('refuses state changes without the CSRF token', async () => {
    const admin = await t.signIn('admin');
    for (const route of t.gate.routes.filter((r) => !r.api && r.method !== 'GET')) {
      const res = await send(admin, route, 'not-the-token');
      expect(res.status, `${route.method} ${route.path}`).toBe(403);
      expect(res.text).toContain('expired');
    }
  });
});

describe('finding the route of a console path', () => {
  it('matches whatever the case and a trailing slash, answers 405 with Allow for a method the path does not take, and 404 elsewhere', async () => {
    const admin = await t.signIn('admin');
    for (const path of ['/users', '/USERS', '/users/', '/Users/new']) {
      const res = await admin.get(path);
      expect(res.status, path).toBe(200);
      expect(res.text, path).toContain(path.toLowerCase().includes('new') ? 'Create user' : '<h1>Users</h1>');
    }
    const wrongMethod = await admin.delete('/users/new').set('X-CSRF-Token', admin.csrf);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toContain('GET');
    for (const path of ['/no-such-page', '/users/1/no-such-tab', '/%75sers']) expect((await admin.get(path)).status, path).toBe(404);
  });
});
