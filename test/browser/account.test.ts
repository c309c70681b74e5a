import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBrowserEnv, type BrowserEnv } from '../support/browser';

let env: BrowserEnv;
beforeAll(async () => {
  env = await startBrowserEnv();
  await env.t.makeUser({ username: 'admin', role: 'superuser' });
});
afterAll(async () => env?.close());

describe('My account in the browser', () => {
  it('shows a new token once, after a redirect, with a copy button', async () => {
    const page = await env.signedInPage('admin');
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: env.baseUrl });
    await page.goto('/account');
    await page.fill('#f-name', 'Deploy bot');
    await Promise.all([page.waitForURL(/\/account\/tokens\/created$/), page.click('#tokens form button[type=submit]')]);
    const token = (await page.locator('#new-token').textContent())!.trim();
    expect(token).toMatch(/^gh_/);
    await page.click('button[data-copy="#new-token"]');
    await page.waitForFunction(() => document.querySelector('button[data-copy]')?.textContent === 'Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);
    // A reload makes no second token and shows nothing.
    await page.reload();
    expect(new URL(page.url()).pathname).toBe('/account');
    expect(await page.content()).not.toContain(token);
    expect(await env.t.db('api_tokens').where({ name: 'Deploy bot' })).toHaveLength(1);
    await page.context().close();
  });

  it('lists sessions by device and signs one out, JavaScript off', async () => {
    await env.t.makeUser({ username: 'traveller', role: 'analyst' });
    const other = await env.signedInPage('traveller');
    const page = await env.signedInPage('traveller', { javaScript: false });
    await page.goto('/account');
    const rows = page.locator('#sessions tbody tr');
    expect(await rows.count()).toBe(2);
    expect(await page.locator('#sessions').textContent()).toMatch(/Chrome(?: Headless)? on Linux/);
    const otherRow = rows.filter({ hasNot: page.locator('.badge') });
    await Promise.all([page.waitForURL(/\/account$/), otherRow.locator('button').click()]);
    expect(await page.locator('#sessions tbody tr').count()).toBe(1);
    await other.goto('/account');
    expect(new URL(other.url()).pathname).toBe('/login');
    await page.context().close();
    await other.context().close();
  });
});
