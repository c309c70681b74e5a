import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBrowserEnv, type BrowserEnv } from '../support/browser';

let env: BrowserEnv;

beforeAll(async () => {
  env = await startBrowserEnv();
  await env.t.makeUser({ username: 'admin', role: 'administrator' });
  await env.t.makeUser({ username: 'maria.owner', firstName: 'Maria', lastName: 'Owner' });
  await env.t.make.makeGroup('Finance');
});
afterAll(async () => env?.close());

describe('assets', () => {
  it('registers an asset picking workspace and owner by type-ahead, shares it, and removes it in the dialog', async () => {
    const page = await env.signedInPage('admin');
    await page.goto('/assets/new');
    await page.selectOption('#f-kind', 'dashboard');
    await page.fill('#f-name', 'Revenue dashboard');
    await page.fill('#f-workspace', '/Ro');
    await page.waitForFunction(() => document.querySelectorAll('#wsl-workspace option').length > 0);
    await page.fill('#f-workspace', '/Root');
    await page.fill('#f-owner', 'mar');
    await page.waitForFunction(() => document.querySelectorAll('#ul-owner option').length > 0);
    expect(await page.getAttribute('#ul-owner option', 'value')).toBe('maria.owner');
    await page.fill('#f-owner', 'maria.owner');
    await Promise.all([page.waitForURL(/\/assets\/\d+$/), page.click('button:has-text("Register")')]);
    expect(await page.locator('h1').textContent()).toContain('Revenue dashboard');
    await page.fill('#f-group', 'fin');
    await page.waitForFunction(() => document.querySelectorAll('#share-groups option').length > 0);
    await page.fill('#f-group', 'Finance');
    await page.selectOption('#f-access', 'editor');
    await Promise.all([page.waitForURL(/\/assets\/\d+$/), page.click('button:has-text("Share")')]);
    expect(await page.locator('table.data').textContent()).toContain('Finance');
    await page.click('text=Remove asset…');
    await page.locator('dialog#modal').waitFor({ state: 'visible' });
    expect(await page.locator('dialog#modal').textContent()).toContain('Finance');
    await Promise.all([page.waitForURL(/\/assets$/), page.click('dialog#modal button.danger')]);
    expect(await page.locator('.flash-success').textContent()).toContain('Revenue dashboard');
  });
});
