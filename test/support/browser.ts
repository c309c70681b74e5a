import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Config } from '../../src/config';
import { createTestApp, PASSWORD, type TestApp } from './app';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

export interface BrowserEnv {
  t: TestApp;
  baseUrl: string;
  browser: Browser;
  /** A new browser context (own cookies), optionally signed in, with JavaScript on or off. */
  context(options?: { javaScript?: boolean }): Promise<BrowserContext>;
  signedInPage(username: string, options?: { javaScript?: boolean; password?: string }): Promise<Page>;
  close(): Promise<void>;
}

/**
 * Starts the app on a free port with its own database and launches the system Chromium. Fails loudly
 * when Chromium is missing: CI must never skip the browser suite silently.
 */
export async function startBrowserEnv(options: { config?: (baseUrl: string) => Partial<Config>; /** `localhost` for WebAuthn, which refuses IP addresses as relying party. */ hostname?: string } = {}): Promise<BrowserEnv> {
  if (!fs.existsSync(CHROMIUM_PATH)) throw new Error(`Chromium not found at ${CHROMIUM_PATH}: apt-get install -y chromium`);
  // Listen first, so configuration that needs the app's own address (SSO redirect URL) can have it.
  let handler: http.RequestListener | undefined;
  const server = http.createServer((req, res) => handler!(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://${options.hostname ?? '127.0.0.1'}:${(server.address() as AddressInfo).port}`;
  const t = await createTestApp({ baseUrl, ...options.config?.(baseUrl) });
  handler = t.server;
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const errors: string[] = [];
  async function context(options: { javaScript?: boolean } = {}) {
    const ctx = await browser.newContext({ baseURL: baseUrl, javaScriptEnabled: options.javaScript ?? true, viewport: { width: 1300, height: 900 } });
    ctx.on('page', (p) => {
      // A CSP violation or script error is a defect: collect them so tests can assert there were none.
      p.on('pageerror', (e) => errors.push(e.message));
      p.on('console', (m) => {
        if (m.type() === 'error' && /Content Security Policy|Refused/.test(m.text())) errors.push(m.text());
      });
    });
    return ctx;
  }
  return {
    t,
    baseUrl,
    browser,
    context,
    async signedInPage(username, options = {}) {
      const ctx = await context(options);
      const page = await ctx.newPage();
      await page.goto('/login');
      await page.fill('#f-username', username);
      await page.fill('#f-password', options.password ?? PASSWORD);
      await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/login')), page.click('form button[type=submit]')]);
      return page;
    },
    async close() {
      await browser.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await t.close();
      if (errors.length) throw new Error(`Browser errors during the test:\n${errors.join('\n')}`);
    },
  };
}

/** Waits for htmx to finish all requests (no element carries the request class). */
export async function htmxSettled(page: Page): Promise<void> {
  await page.waitForFunction(() => !document.querySelector('.htmx-request'));
}
