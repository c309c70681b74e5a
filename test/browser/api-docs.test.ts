import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBrowserEnv, type BrowserEnv } from '../support/browser';
import { servedDocument } from '../support/openapi';

let env: BrowserEnv;

beforeAll(async () => {
  env = await startBrowserEnv();
  await env.t.makeUser({ username: 'admin', role: 'superuser' });
});
afterAll(async () => env?.close());

describe('the API reference in the console', () => {
  for (const javaScript of [true, false]) {
    it(`is reached from the top bar and jumps to an operation from the contents (JavaScript ${javaScript ? 'on' : 'off'})`, async () => {
      const page = await env.signedInPage('admin', { javaScript });
      await page.goto('/account');
      await page.getByRole('link', { name: 'API reference' }).first().click();
      await page.waitForURL('**/api-docs');
      await expect(page.locator('h1').textContent()).resolves.toBe('API reference');
      await page.locator('.api-toc a[href="#op-createUser"]').click();
      await page.waitForURL('**/api-docs#op-createUser');
      const op = page.locator('#op-createUser');
      await expect(op.isVisible()).resolves.toBe(true);
      // The operation scrolled into view, with its example for the server the reader is using.
      const box = await op.boundingBox();
      expect(box!.y).toBeLessThan(300);
      await expect(op.locator('pre.api-example').textContent()).resolves.toContain(`curl -X POST '${env.baseUrl}/api/v1/users'`);
      // A schema link jumps to its definition.
      await op.locator('.api-responses a[href="#schema-User"]').first().click();
      await page.waitForURL('**/api-docs#schema-User');
      await expect(page.locator('#schema-User').isVisible()).resolves.toBe(true);
      await expect(page.locator('article.api-op').count()).resolves.toBe(Object.values(servedDocument().paths).flatMap((p) => Object.keys(p)).length);
      await page.context().close();
    });
  }

  it('offers the document for download', async () => {
    const page = await env.signedInPage('admin');
    await page.goto('/api-docs');
    const res = await page.request.get(await page.locator('a[download]').getAttribute('href').then((h) => h!));
    expect(res.status()).toBe(200);
    expect((await res.json()).openapi).toBe('3.1.0');
    await page.context().close();
  });
});
