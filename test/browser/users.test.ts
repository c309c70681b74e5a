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
    const names = await page.locator('#user-results tbody tr td.user-cell a').allTextContents();
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

describe('create, edit and remove users in the browser', () => {
  const group = (name: string) => env.t.make.makeGroup(name, [], `${name} team`);

  for (const javaScript of [true, false]) {
    it(`creates a user with groups picked in the dual list (JavaScript ${javaScript ? 'on' : 'off'})`, async () => {
      const suffix = javaScript ? 'js' : 'nojs';
      await group(`Alpha ${suffix}`);
      await group(`Beta ${suffix}`);
      const page = await env.signedInPage('admin', { javaScript });
      await page.goto('/users/new');
      await page.fill('#f-username', `created.${suffix}`);
      await page.fill('#f-email', `created.${suffix}@example.com`);
      await page.fill('#f-firstName', 'Created');
      await page.fill('#f-lastName', 'Person');
      await page.fill('#f-password', 'a-very-long-password');
      await page.fill('#dl-groups-lq', `alpha ${suffix}`);
      if (javaScript) {
        await page.waitForFunction((s) => document.querySelectorAll('#dl-groups-lbody li').length === 1 && document.querySelector('#dl-groups-lbody')!.textContent!.includes(`Alpha ${s}`), suffix);
      } else {
        await page.click('#dl-groups .dl-pane:first-of-type button[value="groups:search"]');
      }
      await page.check('#dl-groups-lbody input[type=checkbox]');
      await page.click('button[value="groups:add"]');
      if (javaScript) await htmxSettled(page);
      await page.locator('#dl-groups .pending-summary').waitFor();
      expect(await page.locator('#dl-groups-rbody').textContent()).toContain(`Alpha ${suffix}`);
      expect(await page.locator('#dl-groups-rbody .badge-pending').count()).toBe(1);
      // The other fields survived the round trip.
      expect(await page.inputValue('#f-username')).toBe(`created.${suffix}`);
      await page.fill('#f-password', 'a-very-long-password');
      await Promise.all([page.waitForURL(/\/users\/\d+$/), page.click('.form-actions button[value=save]')]);
      expect(await page.locator('.flash-success').textContent()).toContain(`created.${suffix} created`);
      expect(await page.locator('#dl-groups-rbody').textContent()).toContain(`Alpha ${suffix}`);
      expect(await page.locator('#dl-groups-rbody').textContent()).not.toContain(`Beta ${suffix}`);
    });
  }

  it('with JavaScript off, Enter in a group search box filters the list instead of saving the user', async () => {
    await group('Gamma filter');
    await group('Delta filter');
    const page = await env.signedInPage('admin', { javaScript: false });
    await page.goto('/users/new');
    await page.fill('#f-username', 'enter.presser');
    await page.fill('#f-email', 'enter.presser@example.com');
    await page.fill('#f-firstName', 'Enter');
    await page.fill('#f-lastName', 'Presser');
    await page.fill('#f-password', 'a-very-long-password');
    await page.fill('#dl-groups-lq', 'gamma fil');
    await Promise.all([page.waitForLoadState('load'), page.press('#dl-groups-lq', 'Enter')]);
    await page.locator('#dl-groups-lbody').waitFor();
    expect(await page.locator('#dl-groups-lbody .dl-label').allTextContents()).toEqual(['Gamma filter']);
    expect(await env.t.db('users').where({ username_lower: 'enter.presser' }).first()).toBeUndefined();
    // The form kept everything typed, the password too: a move does not make the administrator type it again.
    expect(await page.inputValue('#f-username')).toBe('enter.presser');
    expect(await page.inputValue('#f-password')).toBe('a-very-long-password');
    await page.check('#dl-groups-lbody input[type=checkbox]');
    await page.click('button[value="groups:add"]');
    await page.locator('#dl-groups .pending-summary').waitFor();
    expect(await page.inputValue('#f-password')).toBe('a-very-long-password');
    // With the search shown, Enter in a text field saves as usual.
    await Promise.all([page.waitForURL(/\/users\/\d+$/), page.press('#f-lastName', 'Enter')]);
    expect(await page.locator('.flash-success').textContent()).toContain('enter.presser created');
    expect(await page.locator('#dl-groups-rbody').textContent()).toContain('Gamma filter');
  });

  it('shows validation messages beside the fields', async () => {
    const page = await env.signedInPage('admin');
    await page.goto('/users/new');
    await page.fill('#f-username', 'anna.berg');
    await page.fill('#f-email', 'broken');
    await page.click('.form-actions button[value=save]');
    await page.locator('#e-username').waitFor();
    expect(await page.locator('#e-username').textContent()).toContain('taken');
    expect(await page.locator('#e-email').textContent()).toContain('valid email');
    expect(await page.getAttribute('#f-email', 'aria-invalid')).toBe('true');
  });

  it('removes a user who owns assets, transferring them to a user picked by type-ahead in the dialog', async () => {
    const owner = await env.t.makeUser({ username: 'departing', firstName: 'Dee', lastName: 'Parting' });
    await env.t.makeUser({ username: 'successor', firstName: 'Sue', lastName: 'Cessor' });
    await env.t.make.makeAsset({ kind: 'log', name: 'Sales log 2026', owner: 'departing', workspace: '/Root' });
    const page = await env.signedInPage('admin');
    await page.goto(`/users/${owner}`);
    await page.click('text=Remove user…');
    const dialog = page.locator('dialog#modal');
    await dialog.waitFor({ state: 'visible' });
    expect(await dialog.textContent()).toContain('Sales log 2026');
    await page.fill('#f-transferTo', 'succ');
    await page.waitForFunction(() => document.querySelectorAll('#transfer-suggestions option').length > 0);
    expect(await page.getAttribute('#transfer-suggestions option', 'value')).toBe('successor');
    await page.fill('#f-transferTo', 'successor');
    await Promise.all([page.waitForURL(/\/users$/), dialog.locator('button.danger').click()]);
    expect(await page.locator('.flash-success').textContent()).toContain('now belong to successor');
    const asset = await env.t.db('assets').where({ name: 'Sales log 2026' }).first();
    expect(asset.owner_id).toBe((await env.t.db('users').where({ username_lower: 'successor' }).first('id')).id);
  });

  it('cancels the removal dialog without changing anything', async () => {
    const id = await env.t.makeUser({ username: 'staying' });
    const page = await env.signedInPage('admin');
    await page.goto(`/users/${id}`);
    await page.click('text=Remove user…');
    await page.locator('dialog#modal').waitFor({ state: 'visible' });
    await page.click('dialog#modal [data-close-dialog]');
    await page.locator('dialog#modal').waitFor({ state: 'hidden' });
    expect(new URL(page.url()).pathname).toBe(`/users/${id}`);
    expect(await env.t.db('users').where({ id }).first()).toBeTruthy();
  });

  it('removes a user with JavaScript off through the confirmation page', async () => {
    const id = await env.t.makeUser({ username: 'nojs.leaver' });
    const page = await env.signedInPage('admin', { javaScript: false });
    await page.goto(`/users/${id}`);
    await Promise.all([page.waitForURL(`**/users/${id}/delete`), page.click('text=Remove user…')]);
    await Promise.all([page.waitForURL(/\/users$/), page.click('button.danger')]);
    expect(await page.locator('.flash-success').textContent()).toContain('nojs.leaver removed');
  });

  it('deactivates a user after the same styled confirmation as Remove', async () => {
    const id = await env.t.makeUser({ username: 'to.pause' });
    const page = await env.signedInPage('admin');
    await page.goto(`/users/${id}`);
    await page.click('text=Deactivate…');
    const dialog = page.locator('dialog#modal');
    await dialog.waitFor({ state: 'visible' });
    expect(await dialog.locator('h2').textContent()).toBe('Deactivate to.pause?');
    await Promise.all([page.waitForURL(`**/users/${id}`), dialog.locator('button.danger').click()]);
    await page.locator('.flash-success').waitFor();
    expect(await page.locator('h1 .badge').first().textContent()).toContain('Deactivated');
  });

  it('with JavaScript off, Deactivate and End sessions open a confirmation page', async () => {
    const id = await env.t.makeUser({ username: 'nojs.pause' });
    const elsewhere = await env.signedInPage('nojs.pause');
    const page = await env.signedInPage('admin', { javaScript: false });
    await page.goto(`/users/${id}`);
    await Promise.all([page.waitForURL(`**/users/${id}/end-sessions`), page.click('text=End 1 session…')]);
    expect(await page.locator('main h2').textContent()).toBe('Sign nojs.pause out everywhere?');
    expect(await page.locator('main .confirm p').first().textContent()).toContain('1 open session of nojs.pause');
    await Promise.all([page.waitForURL(`**/users/${id}`), page.click('button.danger')]);
    expect(await page.locator('.flash-success').textContent()).toContain('Ended 1 session of nojs.pause');
    await Promise.all([page.waitForURL(`**/users/${id}/deactivate`), page.click('text=Deactivate…')]);
    await Promise.all([page.waitForURL(`**/users/${id}`), page.click('button.danger')]);
    expect(await page.locator('h1 .badge').first().textContent()).toContain('Deactivated');
    await elsewhere.context().close();
  });
});

describe('user list group filter', () => {
  it('suggests group names as you type and filters by the chosen group', async () => {
    await env.t.make.makeGroup('Harbour Pilots', ['bob.stone']);
    const page = await env.signedInPage('admin');
    await page.goto('/users');
    await page.fill('#f-group', 'harb');
    await page.waitForFunction(() => document.querySelectorAll('#group-filter-options option').length > 0);
    expect(await page.getAttribute('#group-filter-options option', 'value')).toBe('Harbour Pilots');
    await page.fill('#f-group', 'Harbour Pilots');
    await page.click('.filters button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('#user-results tbody tr').length === 1);
    expect(await page.locator('#user-results tbody td.user-cell a').textContent()).toBe('bob.stone');
  });
});
