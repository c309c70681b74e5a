import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { startBrowserEnv, type BrowserEnv } from '../support/browser';
import { PASSWORD } from '../support/app';
import { currentCode, setAdminsMustUseTwoFactor } from '../../src/auth/factors';

/**
 * Two-factor sign-in as people use it in Chromium: an authenticator app (codes computed here as the app
 * would), recovery codes (JavaScript off), passkeys through a DevTools virtual authenticator, enrolment
 * forced by policy, and an administrator's reset. WebAuthn refuses IP addresses as relying party, so the
 * app runs on `localhost`.
 */
let env: BrowserEnv;
const SHOTS = process.env.SCREENSHOTS_DIR;
beforeAll(async () => {
  env = await startBrowserEnv({ hostname: 'localhost' });
  await env.t.makeUser({ username: 'admin', role: 'superuser' });
});
afterAll(async () => env?.close());

async function shot(page: Page, name: string) {
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
}

async function passwordStep(page: Page, username: string) {
  await page.goto('/login');
  await page.fill('#f-username', username);
  await page.fill('#f-password', PASSWORD);
  await Promise.all([page.waitForURL((u) => u.pathname !== '/login'), page.click('form button[type=submit]')]);
}

async function signOut(page: Page) {
  await Promise.all([page.waitForURL(/\/login/), page.click('.topbar-user button[type=submit]')]);
}

/** Sets up the authenticator app from My account; returns the secret read from the page. */
async function enrolTotp(page: Page): Promise<{ secret: string; codes: string[] }> {
  await page.goto('/account/two-factor');
  await Promise.all([page.waitForURL(/\/account\/two-factor\/totp$/), page.click('#totp button[type=submit]')]);
  expect(await page.locator('img.qr').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
  await shot(page, 'totp-setup');
  const secret = (await page.locator('#totp-secret').textContent())!.replace(/\s+/g, '');
  await page.fill('#f-code', currentCode(secret));
  await Promise.all([page.waitForURL(/recovery-codes$/), page.click('form button[type=submit].primary')]);
  await shot(page, 'recovery-codes');
  const codes = await page.locator('#recovery-codes code').allTextContents();
  expect(codes).toHaveLength(10);
  return { secret, codes };
}

describe('two-factor authentication in the browser', () => {
  it('enrols an authenticator app and signs in with its code', async () => {
    await env.t.makeUser({ username: 'tina', role: 'analyst' });
    const page = await env.signedInPage('tina');
    const { secret } = await enrolTotp(page);
    await page.goto('/account');
    expect(await page.locator('#two-factor').textContent()).toContain('authenticator app');
    await signOut(page);
    await passwordStep(page, 'tina');
    expect(new URL(page.url()).pathname).toBe('/login/two-factor');
    await shot(page, 'two-factor-step');
    await page.fill('#f-code', currentCode(secret, Date.now() + 30_000));
    await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.click('form button[type=submit]')]);
    await page.context().close();
  });

  it('signs in with a recovery code, JavaScript off', async () => {
    await env.t.makeUser({ username: 'rita', role: 'analyst' });
    const setup = await env.signedInPage('rita', { javaScript: false });
    const { codes } = await enrolTotp(setup);
    await setup.context().close();
    const ctx = await env.context({ javaScript: false });
    const page = await ctx.newPage();
    await passwordStep(page, 'rita');
    await Promise.all([page.waitForURL(/recovery=1/), page.click('a[href="/login/two-factor?recovery=1"]')]);
    await page.fill('#f-recoveryCode', codes[0]);
    await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.click('form button[type=submit]')]);
    expect(await page.locator('.flash').first().textContent()).toContain('9 left');
    await ctx.close();
  });

  it('registers a passkey and signs in with it (virtual authenticator)', async () => {
    await env.t.makeUser({ username: 'pia', role: 'analyst' });
    const page = await env.signedInPage('pia');
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    });
    await page.goto('/account/two-factor');
    await page.fill('#f-passkeyName', 'Work laptop');
    await Promise.all([page.waitForURL(/recovery-codes$/), page.click('[data-passkey-register] button[type=submit]')]);
    await page.goto('/account/two-factor');
    expect(await page.locator('#passkeys').textContent()).toContain('Work laptop');
    await shot(page, 'passkeys');
    await signOut(page);
    await passwordStep(page, 'pia');
    await shot(page, 'two-factor-passkey');
    await Promise.all([page.waitForURL((u) => u.pathname === '/'), page.click('[data-passkey-authenticate]')]);
    const signIn = await env.t.db('audit_events').where({ action: 'auth.sign_in', object_label: 'pia' }).orderBy('id', 'desc').first();
    expect(JSON.parse(signIn.after_json).method).toBe('password+passkey');
    await page.context().close();
  });

  it('leads an administrator to enrol when the policy requires it', async () => {
    await env.t.makeUser({ username: 'desk', role: 'administrator' });
    await setAdminsMustUseTwoFactor(env.t.db, true);
    try {
      const ctx = await env.context();
      const page = await ctx.newPage();
      await passwordStep(page, 'desk');
      expect(new URL(page.url()).pathname).toBe('/account/two-factor');
      await shot(page, 'forced-enrolment');
      await page.goto('/users');
      expect(new URL(page.url()).pathname).toBe('/account/two-factor');
      await enrolTotp(page);
      await page.goto('/users');
      expect(new URL(page.url()).pathname).toBe('/users');
      await ctx.close();
    } finally {
      await setAdminsMustUseTwoFactor(env.t.db, false);
    }
  });

  it('lets an administrator reset a user’s lost factor; the user then signs in with the password', async () => {
    const id = await env.t.makeUser({ username: 'lost', role: 'analyst' });
    const owner = await env.signedInPage('lost');
    await enrolTotp(owner);
    await owner.context().close();
    const admin = await env.signedInPage('admin');
    admin.on('dialog', (d) => d.accept());
    await admin.goto(`/users/${id}`);
    await shot(admin, 'user-sign-in-panel');
    await Promise.all([admin.waitForURL(new RegExp(`/users/${id}$`)), admin.click('#sign-in form[action$="/two-factor/reset"] button')]);
    await admin.waitForSelector('.flash-success');
    expect(await admin.locator('.flash-success').textContent()).toContain('second factor of lost is reset');
    await admin.goto(`/users/${id}/sign-in-history`);
    await shot(admin, 'sign-in-history');
    expect(await admin.locator('tbody').textContent()).toContain('Second factor reset by an administrator');
    const page = await env.signedInPage('lost');
    expect(new URL(page.url()).pathname).toBe('/');
    await admin.context().close();
    await page.context().close();
  });

  it('has no serious or critical accessibility violations on the sign-in security pages', async () => {
    const id = await env.t.makeUser({ username: 'axe', role: 'analyst' });
    const setup = await env.signedInPage('axe');
    await enrolTotp(setup);
    await setup.context().close();
    const problems: string[] = [];
    const check = async (page: Page, path: string) => {
      await page.goto(path);
      const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa']).analyze();
      for (const v of result.violations.filter((x) => x.impact === 'serious' || x.impact === 'critical')) {
        problems.push(`${path}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
      }
    };
    const anonymous = await (await env.context()).newPage();
    await passwordStep(anonymous, 'axe');
    await check(anonymous, '/login/two-factor');
    await check(anonymous, '/login/two-factor?recovery=1');
    await anonymous.context().close();
    const admin = await env.signedInPage('admin');
    for (const path of ['/account/two-factor', '/settings/sign-in', `/users/${id}/sign-in-history`, '/reauth?next=%2Faccount']) await check(admin, path);
    await admin.goto('/account/two-factor');
    await Promise.all([admin.waitForURL(/totp$/), admin.click('#totp button[type=submit]')]);
    await check(admin, '/account/two-factor/totp');
    await admin.context().close();
    expect(problems).toEqual([]);
  });
});
