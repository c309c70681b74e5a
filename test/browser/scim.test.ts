import { AxeBuilder } from '@axe-core/playwright';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startBrowserEnv, type BrowserEnv } from '../support/browser';

let env: BrowserEnv;
beforeAll(async () => {
  env = await startBrowserEnv();
  await env.t.makeUser({ username: 'admin', role: 'superuser' });
  await env.t.makeUser({ username: 'asset.keeper' });
});
afterAll(async () => env?.close());

async function noSeriousViolations(page: Page) {
  const result = await new AxeBuilder({ page }).analyze();
  const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

describe('SCIM provisioning settings in the browser', () => {
  it('shows the base URL and sets the user who receives the assets of deleted users, with a message beside a wrong name', async () => {
    const page = await env.signedInPage('admin');
    await page.goto('/users');
    await Promise.all([page.waitForURL(/\/settings\/scim$/), page.click('nav.sidebar >> text=SCIM provisioning')]);
    expect(await page.locator('#scim-base-url').textContent()).toMatch(/\/scim\/v2$/);
    await noSeriousViolations(page);

    await page.fill('#receiver', 'nobody.here');
    await page.click('form button[type=submit].primary');
    await page.locator('#e-receiver').waitFor();
    expect(await page.locator('#e-receiver').textContent()).toContain('There is no user');
    expect(await page.locator('#receiver').getAttribute('aria-invalid')).toBe('true');

    await page.fill('#receiver', 'asset.keeper');
    await Promise.all([page.waitForURL(/\/settings\/scim$/), page.click('form button[type=submit].primary')]);
    expect(await page.locator('#flash').textContent()).toContain('asset.keeper');
    expect(await page.locator('#receiver').inputValue()).toBe('asset.keeper');
  });
});
