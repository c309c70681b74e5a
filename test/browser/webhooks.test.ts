import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { startBrowserEnv, type BrowserEnv } from '../support/browser';
import { startReceiver, type Receiver } from '../support/receiver';

/**
 * A Superuser in Chromium: finds Webhooks in the menu, adds an endpoint (a form error first), copies the
 * secret shown once, sends a test event that the receiver gets signed with that secret, sees it delivered in
 * the log and redelivers it, with JavaScript and without; the pages have no serious accessibility violations.
 */
let env: BrowserEnv;
const receivers: Receiver[] = [];

beforeAll(async () => {
  env = await startBrowserEnv();
  await env.t.makeUser({ username: 'admin', role: 'superuser' });
});
afterAll(async () => {
  for (const r of receivers) await r.close();
  await env?.close();
});

/** Each test has a receiver and an endpoint of its own. */
async function ownReceiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

async function noSeriousViolations(page: Page) {
  const result = await new AxeBuilder({ page }).analyze();
  const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

async function deliverAll() {
  for (let i = 0; i < 20; i++) {
    await env.t.gate.webhooks.runOnce();
    const [{ n }] = await env.t.db('webhook_deliveries').where({ status: 'pending' }).count({ n: '*' });
    if (Number(n) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('webhooks in the browser', () => {
  it('adds an endpoint from the menu and shows its secret once', async () => {
    const receiver = await ownReceiver();
    const page = await env.signedInPage('admin');
    await page.goto('/account');
    await Promise.all([page.waitForURL('**/settings/webhooks'), page.click('nav a:has-text("Webhooks")')]);
    await noSeriousViolations(page);
    await Promise.all([page.waitForURL('**/settings/webhooks/new'), page.click('text=Add endpoint')]);
    await page.fill('#f-url', 'https://10.0.0.5/hook');
    await page.click('form button.primary');
    await expect.poll(() => page.locator('#e-url').textContent()).toContain('private');
    expect(await page.locator('#e-eventTypes').textContent()).toContain('at least one event');
    await noSeriousViolations(page);

    await page.fill('#f-url', receiver.url);
    await page.fill('#f-description', 'Browser receiver');
    await page.check('input[name=eventTypes][value="user.created"]');
    await Promise.all([page.waitForURL(/\/settings\/webhooks\/\d+\/secret$/), page.click('form button.primary')]);
    const secret = (await page.locator('#webhook-secret').textContent())!;
    expect(secret).toMatch(/^whsec_/);
    await page.reload();
    expect(await page.locator('#webhook-secret').count()).toBe(0);
  });

  it('sends a test event, shows it delivered in the log, and redelivers it', async () => {
    const receiver = await ownReceiver();
    const { endpoint, secret } = await env.t.make.makeWebhook(receiver.url, ['user.created']);
    const endpointPath = `/settings/webhooks/${endpoint.id}`;
    const page = await env.signedInPage('admin');
    await page.goto(endpointPath);
    await noSeriousViolations(page);
    await Promise.all([page.waitForLoadState('load'), page.click('button:has-text("Send test event")')]);
    await expect.poll(() => page.locator('#deliveries tbody tr').first().textContent()).toContain('webhook.test');
    await deliverAll();
    expect(receiver.received).toHaveLength(1);
    expect(() => new Webhook(secret).verify(receiver.received[0].body, receiver.received[0].headers)).not.toThrow();

    await page.reload();
    const row = page.locator('#deliveries tbody tr').first();
    expect(await row.textContent()).toMatch(/Delivered[\s\S]*204/);
    await Promise.all([page.waitForLoadState('load'), row.locator('button:has-text("Redeliver")').click()]);
    await expect.poll(() => page.locator('#deliveries tbody tr').count()).toBe(2);
    await deliverAll();
    expect(receiver.received.map((r) => r.headers['webhook-id'])).toEqual([receiver.received[0].headers['webhook-id'], receiver.received[0].headers['webhook-id']]);
  });

  it('works without JavaScript: edit, test event, redeliver, remove', async () => {
    const receiver = await ownReceiver();
    const { endpoint } = await env.t.make.makeWebhook(receiver.url, ['user.created'], { description: 'No script' });
    const endpointPath = `/settings/webhooks/${endpoint.id}`;
    const page = await env.signedInPage('admin', { javaScript: false });
    await page.goto(endpointPath);
    await Promise.all([page.waitForURL(`**${endpointPath}`), page.click('button:has-text("Send test event")')]);
    await deliverAll();
    await page.reload();
    await page.check('input[name=eventTypes][value="user.removed"]');
    await Promise.all([page.waitForURL(`**${endpointPath}`), page.click('form button:has-text("Save")')]);
    expect(await page.locator('.flash-success').textContent()).toContain('saved');
    expect(await page.locator('input[name=eventTypes][value="user.removed"]').isChecked()).toBe(true);

    await Promise.all([page.waitForURL(`**${endpointPath}`), page.locator('#deliveries tbody tr').first().locator('button:has-text("Redeliver")').click()]);
    expect(await page.locator('#deliveries tbody tr').count()).toBe(2);
    expect(await page.locator('#deliveries tbody tr').first().textContent()).toContain('(redelivery)');

    await Promise.all([page.waitForURL(`**${endpointPath}/remove`), page.click('text=Remove endpoint')]);
    await Promise.all([page.waitForURL('**/settings/webhooks'), page.click('button:has-text("Remove endpoint")')]);
    expect(await page.locator('.flash-success').textContent()).toContain('removed');
    expect(await page.locator(`a[href="${endpointPath}"]`).count()).toBe(0);
  });
});
