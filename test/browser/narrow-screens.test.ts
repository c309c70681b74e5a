import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startBrowserEnv, type BrowserEnv } from '../support/browser';
import { addRelation } from '../../src/groups/service';
import { SYSTEM_ACTOR } from '../../src/audit/service';

let env: BrowserEnv;
let pages: string[];

beforeAll(async () => {
  env = await startBrowserEnv();
  const { make } = env.t;
  await env.t.makeUser({ username: 'narrow.admin', role: 'superuser', firstName: 'Nadia', lastName: 'Okonkwo-Vasquez' });
  const user = await make.makeUser({ username: 'maximiliana.schwarzenberger-oyelaran', firstName: 'Maximiliana', lastName: 'Schwarzenberger-Oyelaran', email: 'maximiliana.schwarzenberger-oyelaran@subsidiary.example.com' });
  const group = await make.makeGroup('Procurement Compliance Review Board', ['maximiliana.schwarzenberger-oyelaran'], 'Reviews every purchase order above the delegated authority limit');
  await make.makeGroup('Finance Controllers', []);
  const permission = await make.grant('Procurement Compliance Review Board', { domain: 'Processes', workspace: '/Root/Procurement/Purchase orders', operations: 'RM', transitive: true });
  const workspace = await make.makeWorkspace('/Root/Procurement/Purchase orders');
  const asset = await make.makeAsset({ name: 'Purchase order approval', owner: 'maximiliana.schwarzenberger-oyelaran', workspace: '/Root/Procurement/Purchase orders' });
  const role = await make.makeRole('Procurement analyst');
  const finance = await make.groupId('Finance Controllers');
  await addRelation(env.t.db, SYSTEM_ACTOR, { requester: group.name, approver: 'Finance Controllers' });
  pages = [
    '/', '/users', `/users/${user.id}`, `/users/${user.id}/sign-in-history`, `/users/${user.id}/delete`, `/users/${user.id}/deactivate`, '/users/new', '/users/import',
    '/users/bulk?scope=filter&action=deactivate&q=maxi',
    '/groups', `/groups/${group.id}`, `/groups/${group.id}/permissions`, `/groups/${group.id}/permissions/${permission.id}`, `/groups/${group.id}/relations`, `/groups/${group.id}/delete`, '/groups/relations', `/groups/relations/${group.id}/${finance}/delete`,
    '/roles', '/roles/new', '/roles/matrix', `/roles/${role.id}`, `/roles/${role.id}/users`, `/roles/${role.id}/clone`, `/roles/${role.id}/delete`,
    '/licenses', '/licenses/caps',
    '/workspaces', `/workspaces/${workspace.id}`, `/workspaces/${workspace.id}/delete`,
    '/assets', '/assets/new', `/assets/${asset.id}`, `/assets/${asset.id}/delete`,
    '/access', `/access?user=maximiliana.schwarzenberger-oyelaran&workspace=${encodeURIComponent('/Root/Procurement/Purchase orders')}&domain=processes&op=R`, '/access/who', `/access/who?domain=processes&op=R&workspace=${encodeURIComponent('/Root/Procurement/Purchase orders')}`,
    '/audit', '/settings/sign-in', '/settings/webhooks', '/settings/webhooks/new', '/settings/clients', '/settings/scim', '/domains', '/account', '/account/two-factor', '/api-docs',
  ];
});
afterAll(async () => env?.close());

/** What sticks out on the right: the page's width beyond the window, and the elements responsible. */
async function overflow(page: Page) {
  return page.evaluate(() => {
    const sticking: string[] = [];
    for (const el of Array.from(document.querySelectorAll('body *'))) {
      if (el.getBoundingClientRect().right <= window.innerWidth + 1) continue;
      let clipped = false;
      for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) if (getComputedStyle(a).overflowX !== 'visible') clipped = true;
      if (!clipped) sticking.push(`${el.tagName.toLowerCase()}.${el.className}`);
    }
    return { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, sticking: sticking.slice(0, 5) };
  });
}

describe('a 390 px screen (a phone)', () => {
  it('shows the whole top bar: brand, account and Sign out within the width', async () => {
    const page = await env.signedInPage('narrow.admin');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto('/users');
    for (const selector of ['.topbar .brand', '.topbar-user a[href="/account"]', '.topbar-user button']) {
      const box = await page.locator(selector).boundingBox();
      expect(box, selector).not.toBeNull();
      expect(box!.x, selector).toBeGreaterThanOrEqual(0);
      expect(box!.x + box!.width, selector).toBeLessThanOrEqual(390);
      expect(await page.locator(selector).isVisible()).toBe(true);
    }
  });

  it('no console page scrolls sideways (scrollWidth ≤ innerWidth on every page)', async () => {
    const page = await env.signedInPage('narrow.admin');
    await page.setViewportSize({ width: 390, height: 844 });
    const wide: Record<string, unknown> = {};
    for (const path of pages) {
      const res = await page.goto(path);
      expect(res?.status(), path).toBe(200);
      const o = await overflow(page);
      if (o.scrollWidth > o.innerWidth) wide[path] = o;
    }
    expect(wide).toEqual({});
  });
});

describe('a 1,366 px screen (a laptop)', () => {
  it('shows every column of the users list, one line per user, without scrolling the table sideways', async () => {
    // Long values in every column that can be long, and the signed-in administrator's Online badge.
    await env.t.make.makeRole('Regional Procurement Administrator');
    await env.t.makeUser({ username: 'bartholomew.featherstonehaugh-mcallister', firstName: 'Bartholomew Alexander', lastName: 'Featherstonehaugh-McAllister', email: 'bartholomew.featherstonehaugh-mcallister@procurement.subsidiary.example.com', role: 'Regional Procurement Administrator', license: 'project_manager' });
    // …and a username of a usual length, which must show whole.
    await env.t.makeUser({ username: 'katharina.lindqvist.20417', firstName: 'Katharina', lastName: 'Lindqvist' });
    const page = await env.signedInPage('narrow.admin');
    await page.setViewportSize({ width: 1366, height: 900 });
    await page.goto('/users');
    const usual = page.locator('.users-table td.user-cell', { hasText: 'katharina.lindqvist.20417' });
    expect(await usual.evaluate((td) => td.scrollWidth <= td.clientWidth)).toBe(true);
    const fit = await page.evaluate(() => {
      const wrap = document.querySelector('#user-results .table-wrap')!;
      const rows = Array.from(document.querySelectorAll('.users-table tbody tr')).map((tr) => tr.getBoundingClientRect().height);
      const lastHeader = document.querySelector('.users-table thead th:last-child')!.getBoundingClientRect();
      return { scrollWidth: wrap.scrollWidth, clientWidth: wrap.clientWidth, rowHeights: [...new Set(rows.map(Math.round))], lastHeaderRight: lastHeader.right, wrapRight: wrap.getBoundingClientRect().right };
    });
    expect(fit.scrollWidth, JSON.stringify(fit)).toBeLessThanOrEqual(fit.clientWidth);
    expect(fit.lastHeaderRight).toBeLessThanOrEqual(fit.wrapRight);
    // One line each: a wrapped cell would make its row half as tall again (a badge adds a pixel or two).
    expect(Math.max(...fit.rowHeights), JSON.stringify(fit.rowHeights)).toBeLessThan(Math.min(...fit.rowHeights) * 1.4);
    // A value cut short keeps its whole text as the cell's title.
    const name = page.locator('.users-table td.name-cell', { hasText: 'Bartholomew' });
    expect(await name.getAttribute('title')).toBe('Bartholomew Alexander Featherstonehaugh-McAllister');
  });
});
