import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { htmxSettled, startBrowserEnv, type BrowserEnv } from '../support/browser';

let env: BrowserEnv;

beforeAll(async () => {
  env = await startBrowserEnv();
  await env.t.makeUser({ username: 'admin', role: 'superuser' });
  for (const [u, f, l] of [
    ['anna.berg', 'Anna', 'Berg'],
    ['annika.lund', 'Annika', 'Lund'],
    ['bob.stone', 'Bob', 'Stone'],
  ]) {
    await env.t.makeUser({ username: u, firstName: f, lastName: l });
  }
});
afterAll(async () => env?.close());

describe('users list', () => {
  it('filters as you type, without reloading the page, and keeps the URL shareable', async () => {
    const page = await env.signedInPage('admin');
    await page.goto('/users');
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    await page.fill('#q', 'ann');
    await page.waitForFunction(() => document.querySelectorAll('#user-results tbody tr').length === 2);
    await htmxSettled(page);
    const names = await page.locator('#user-results tbody tr td:first-child a').allTextContents();
    expect(names).toEqual(['anna.berg', 'annika.lund']);
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
    expect(new URL(page.url()).searchParams.get('q')).toBe('ann');
  });

  it('works with JavaScript off: the search form submits and renders the whole page', async () => {
    const page = await env.signedInPage('admin', { javaScript: false });
    await page.goto('/users');
    await page.fill('#q', 'bob');
    await Promise.all([page.waitForURL(/q=bob/), page.click('.filters button[type=submit]')]);
    expect(await page.locator('#user-results tbody tr').count()).toBe(1);
  });
});
