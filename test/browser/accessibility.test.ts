import { AxeBuilder } from '@axe-core/playwright';
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

describe('accessibility', () => {
  it('has no serious or critical axe violations on the console pages', async () => {
    const db = env.t.db;
    const group = await db('groups').orderBy('id').first('id');
    const user = await db('users').where('username_lower', '!=', 'admin').orderBy('id').first('id', 'username');
    const role = await db('roles').whereNotNull('builtin_key').orderBy('id').first('id');
    const asset = await db('assets').orderBy('id').first('id');
    const workspace = await db('workspaces').whereNotNull('parent_id').orderBy('id').first('id');
    const pages = [
      '/users',
      '/users/new',
      `/users/${user.id}`,
      `/users/${user.id}/delete`,
      '/groups',
      `/groups/${group.id}`,
      `/groups/${group.id}/permissions`,
      `/groups/${group.id}/relations`,
      '/groups/relations',
      '/roles',
      `/roles/${role.id}`,
      `/roles/${role.id}/users`,
      '/roles/matrix',
      '/licenses',
      '/workspaces',
      `/workspaces/${workspace.id}`,
      '/assets',
      `/assets/${asset.id}`,
      '/access',
      `/access?user=${encodeURIComponent(user.username)}`,
      '/access/who',
      '/audit',
      '/account',
      '/api-docs',
    ];
    const page = await env.signedInPage('admin');
    const problems: string[] = [];
    for (const path of pages) {
      const res = await page.goto(path);
      expect(res?.status(), path).toBe(200);
      const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
      for (const v of result.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) {
        problems.push(`${path}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('has an accessible sign-in page', async () => {
    const ctx = await env.context();
    const page = await ctx.newPage();
    await page.goto('/login');
    const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
    expect(result.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical').map((v) => v.id)).toEqual([]);
  });
});
