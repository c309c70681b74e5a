import { AxeBuilder } from '@axe-core/playwright';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startBrowserEnv, type BrowserEnv } from '../support/browser';

let env: BrowserEnv;
beforeAll(async () => {
  env = await startBrowserEnv();
  await env.t.makeUser({ username: 'admin', role: 'superuser' });
  await env.t.makeUser({ username: 'svc.owner', role: 'superuser' });
});
afterAll(async () => env?.close());

const check = (token: string) =>
  request(env.t.server).post('/api/v1/check').set('Authorization', `Bearer ${token}`).send({ user: 'admin', domain: 'Files', operation: 'R', workspace: '/Root' });

async function noSeriousViolations(page: Page) {
  const result = await new AxeBuilder({ page }).analyze();
  const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

describe('machine clients in the browser', () => {
  it('creates a client from the menu, issues a token shown once, revokes it, disables and deletes the client in the dialog', async () => {
    const page = await env.signedInPage('admin');
    await page.goto('/users');
    await Promise.all([page.waitForURL(/\/settings\/clients$/), page.click('nav.sidebar >> text=Machine clients')]);
    await noSeriousViolations(page);
    await Promise.all([page.waitForURL(/\/settings\/clients\/new$/), page.click('text=+ New client')]);
    await page.fill('#f-name', 'orders-service');
    await page.fill('#f-owner', 'svc.owner');
    await page.check('input[name=scopes][value=read]');
    await Promise.all([page.waitForURL(/\/settings\/clients\/\d+$/), page.click('form button[type=submit].primary')]);
    expect(await page.locator('h1').textContent()).toContain('orders-service');
    expect(await page.locator('#flash').textContent()).toContain('created');
    await noSeriousViolations(page);

    await page.fill('#tokens #f-name', 'production');
    await Promise.all([page.waitForURL(/\/tokens\/created$/), page.click('#tokens button[type=submit]')]);
    const token = (await page.locator('#new-token').textContent())!.trim();
    expect(token).toMatch(/^ghc_/);
    expect((await check(token)).status).toBe(200);
    await page.reload();
    expect(await page.content()).not.toContain(token);

    await page.goto(new URL(page.url()).pathname.replace(/#.*$/, ''));
    await Promise.all([page.waitForURL(/\/settings\/clients\/\d+/), page.click('#tokens button:has-text("Revoke")')]);
    expect(await page.locator('#tokens .badge-off').textContent()).toBe('Revoked');
    expect((await check(token)).status).toBe(401);

    await Promise.all([page.waitForURL(/\/settings\/clients\/\d+$/), page.click('button:has-text("Disable client")')]);
    expect(await page.locator('h1 .badge').textContent()).toBe('Disabled');

    await page.click('text=Delete client…');
    await page.locator('dialog#modal').waitFor({ state: 'visible' });
    expect(await page.locator('dialog#modal').textContent()).toContain('orders-service');
    await Promise.all([page.waitForURL(/\/settings\/clients$/), page.click('dialog#modal button.danger')]);
    expect(await page.locator('#flash').textContent()).toContain('deleted');
    expect(await page.locator('#client-results').textContent()).not.toContain('orders-service');
    await page.context().close();
  });

  it('works without JavaScript: a refused form keeps the values, with the message beside each field', async () => {
    const page = await env.signedInPage('admin', { javaScript: false });
    await page.goto('/settings/clients/new');
    await page.fill('#f-name', 'bad name');
    await page.fill('#f-owner', 'svc.owner');
    await page.uncheck('input[name=scopes][value=decisions]');
    await page.click('form button[type=submit].primary');
    expect(await page.locator('#e-name').textContent()).toContain('letters, digits');
    expect(await page.locator('fieldset.has-error').textContent()).toContain('at least one scope');
    expect(await page.inputValue('#f-owner')).toBe('svc.owner');
    await page.fill('#f-name', 'decider');
    await page.check('input[name=scopes][value=decisions]');
    await Promise.all([page.waitForURL(/\/settings\/clients\/\d+$/), page.click('form button[type=submit].primary')]);
    expect(await page.locator('h1').textContent()).toContain('decider');
    await page.context().close();
  });
});
