import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { startBrowserEnv, type BrowserEnv } from '../support/browser';
import { startTestProvider, type TestProvider } from '../support/oidc';

/**
 * Single sign-on in Chromium: Gatehouse on 127.0.0.1, a real OpenID provider on localhost (another site),
 * the person clicking "Sign in with …" and typing into the provider's own login form.
 */
let op: TestProvider;
let env: BrowserEnv;

beforeAll(async () => {
  op = await startTestProvider();
  env = await startBrowserEnv({ config: (baseUrl) => ({ sso: op.ssoConfig(`${baseUrl}/sso/callback`) }) });
  op.configure(`${env.baseUrl}/sso/callback`);
  await env.t.makeUser({ username: 'admin', role: 'superuser' });
});
afterAll(async () => {
  await env?.close();
  await op?.close();
});

/** On the provider's login page: type the login and password and submit, as a person would. */
async function signInAtProvider(page: Page, login: string) {
  await page.waitForURL((u) => u.origin === op.issuer && u.pathname.startsWith('/interaction/'));
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'whatever the provider checks');
  await Promise.all([page.waitForURL((u) => u.origin === env.baseUrl), page.click('button[type=submit]')]);
}

describe('single sign-on in the browser', () => {
  for (const javaScript of [true, false]) {
    it(`creates the account at the first sign-in and lands signed in (JavaScript ${javaScript ? 'on' : 'off'})`, async () => {
      const login = `sam-${javaScript ? 'js' : 'nojs'}`;
      const username = `sam.${javaScript ? 'js' : 'nojs'}`;
      op.accounts.set(login, { preferred_username: username, given_name: 'Sam', family_name: 'Rivera', email: `${username}@example.com`, email_verified: true });
      const context = await env.context({ javaScript });
      const page = await context.newPage();
      await page.goto('/login');
      // The local form stays beside the provider button.
      await expect(page.locator('#f-password').count()).resolves.toBe(1);
      await page.click('text=Sign in with Test IdP');
      await signInAtProvider(page, login);
      await page.waitForURL(`${env.baseUrl}/`);
      await expect(page.locator('.topbar-user').innerText()).resolves.toContain(username);
      await page.goto('/account');
      await expect(page.locator('.facts').innerText()).resolves.toContain('Single sign-on');

      // Signing out and in again goes through the provider's session without a new account.
      await Promise.all([page.waitForURL(/\/login/), page.click('.topbar-user button[type=submit]')]);
      await page.click('text=Sign in with Test IdP');
      await page.waitForURL(`${env.baseUrl}/`);
      await expect(page.locator('.topbar-user').innerText()).resolves.toContain(username);
      const count = await env.t.db('users').where({ username_lower: username }).count({ n: '*' }).first();
      expect(Number(count!.n)).toBe(1);
      await context.close();

      // The administrator sees the account, marked SSO.
      const admin = await env.signedInPage('admin', { javaScript });
      await admin.goto(`/users?q=${encodeURIComponent(username)}`);
      const row = admin.locator('tbody tr', { hasText: username });
      await expect(row.locator('.badge', { hasText: 'SSO' }).count()).resolves.toBe(1);
      await Promise.all([admin.waitForURL(/\/users\/\d+$/), row.locator(`a:text-is("${username}")`).click()]);
      await expect(admin.locator('h1 .badge', { hasText: 'SSO' }).count()).resolves.toBe(1);
      await expect(admin.locator('#f-password').count()).resolves.toBe(0);
      await expect(admin.locator('.sso-note').innerText()).resolves.toContain('Gatehouse keeps no password');
      await admin.context().close();
    });
  }

  it('explains a sign-in cancelled at the provider and offers both ways back', async () => {
    const context = await env.context();
    const page = await context.newPage();
    await page.goto('/login');
    await page.click('text=Sign in with Test IdP');
    await page.waitForURL((u) => u.origin === op.issuer && u.pathname.startsWith('/interaction/'));
    await Promise.all([page.waitForURL((u) => u.origin === env.baseUrl), page.click('text=[ Cancel ]')]);
    await expect(page.locator('h1').innerText()).resolves.toBe('Single sign-on did not complete');
    await expect(page.locator('[role=alert]').innerText()).resolves.toContain('cancelled');
    await Promise.all([page.waitForURL(/\/login$/), page.click('text=Sign in with a Gatehouse password')]);
    await expect(page.locator('#f-username').count()).resolves.toBe(1);
    await context.close();
  });

  it('tells a person without a free license seat so, and makes no account', async () => {
    const role = await env.t.db('roles').where({ is_default: true }).first();
    const used = await env.t.db('users').where({ license_type_id: role.license_type_id }).count({ n: '*' }).first();
    await env.t.db('license_types').where({ id: role.license_type_id }).update({ seat_limit: Number(used!.n) });
    try {
      op.accounts.set('nora', { preferred_username: 'nora.seatless', email: 'nora@example.com' });
      const context = await env.context();
      const page = await context.newPage();
      await page.goto('/login');
      await page.click('text=Sign in with Test IdP');
      await signInAtProvider(page, 'nora');
      await expect(page.locator('[role=alert]').innerText()).resolves.toMatch(/licenses are in use/);
      expect(await env.t.db('users').where({ username_lower: 'nora.seatless' }).first()).toBeUndefined();
      await context.close();
    } finally {
      await env.t.db('license_types').where({ id: role.license_type_id }).update({ seat_limit: null });
    }
  });
});
