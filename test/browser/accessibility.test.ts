import { AxeBuilder } from '@axe-core/playwright';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBrowserEnv, type BrowserEnv } from '../support/browser';
import { seedDemo } from '../../seeds/demo';

/** Every main page, checked by axe-core in Chromium: no serious or critical accessibility violations. */
let env: BrowserEnv;

beforeAll(async () => {
  env = await startBrowserEnv();
  await env.t.makeUser({ username: 'admin', role: 'superuser' });
  await seedDemo(env.t.db, { users: 60, scryptN: 1024, password: 'demo-password-2026' });
});
afterAll(async () => env?.close());

interface Objects {
  group: number;
  user: { id: number; username: string };
  role: number;
  asset: number;
  workspace: number;
}

/** Every main page of the console, one test each (axe on a long page takes a while). */
const PAGES: Array<[string, (o: Objects) => string]> = [
  ['the user list', () => '/users'],
  ['a new user', () => '/users/new'],
  ['a user', (o) => `/users/${o.user.id}`],
  ['removing a user', (o) => `/users/${o.user.id}/delete`],
  ['the group list', () => '/groups'],
  ['a group', (o) => `/groups/${o.group}`],
  ['a group’s permissions', (o) => `/groups/${o.group}/permissions`],
  ['a group’s relations', (o) => `/groups/${o.group}/relations`],
  ['the relations', () => '/groups/relations'],
  ['the role list', () => '/roles'],
  ['a role', (o) => `/roles/${o.role}`],
  ['a role’s users', (o) => `/roles/${o.role}/users`],
  ['the role matrix', () => '/roles/matrix'],
  ['the licenses', () => '/licenses'],
  ['the domains', () => '/domains'],
  ['adding a domain', () => '/domains/new'],
  ['the workspaces', () => '/workspaces'],
  ['a workspace', (o) => `/workspaces/${o.workspace}`],
  ['the assets', () => '/assets'],
  ['an asset', (o) => `/assets/${o.asset}`],
  ['the access explorer', () => '/access'],
  ['a user’s access', (o) => `/access?user=${encodeURIComponent(o.user.username)}`],
  ['who may', () => '/access/who'],
  ['the audit log', () => '/audit'],
  ['my account', () => '/account'],
  ['the API reference', () => '/api-docs'],
];

describe('accessibility', () => {
  let objects: Objects;
  // One signed-in browser for every page (each test opens a tab of its own): signing in again per page only
  // cost time, the pages are only read.
  let signedIn: BrowserContext;
  beforeAll(async () => {
    signedIn = (await env.signedInPage('admin')).context();
    const db = env.t.db;
    objects = {
      group: (await db('groups').orderBy('id').first('id')).id,
      user: await db('users').where('username_lower', '!=', 'admin').orderBy('id').first('id', 'username'),
      role: (await db('roles').whereNotNull('builtin_key').orderBy('id').first('id')).id,
      asset: (await db('assets').orderBy('id').first('id')).id,
      workspace: (await db('workspaces').whereNotNull('parent_id').orderBy('id').first('id')).id,
    };
  });

  it.each(PAGES)('%s has no serious or critical axe violations', async (_, pathOf) => {
    const path = pathOf(objects);
    const page = await signedIn.newPage();
    try {
      const res = await page.goto(path);
      expect(res?.status(), path).toBe(200);
      const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
      const problems = result.violations
        .filter((x) => x.impact === 'serious' || x.impact === 'critical')
        .map((v) => `${path}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('has an accessible sign-in page', async () => {
    const ctx = await env.context();
    const page = await ctx.newPage();
    await page.goto('/login');
    const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
    expect(result.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical').map((v) => v.id)).toEqual([]);
  });
});
