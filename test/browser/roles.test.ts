import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { htmxSettled, startBrowserEnv, type BrowserEnv } from '../support/browser';
import { userRow } from '../../src/users/repo';

/**
 * A Superuser in Chromium: creates a role from a template, edits it in the matrix (htmx cell saves, and the
 * per-column Save without JavaScript), clones it, assigns users with the dual list (search + "All >>", and
 * with JavaScript off), and removes it moving its users.
 */
let env: BrowserEnv;
const ids: Record<string, number> = {};

async function permsOf(roleId: number): Promise<string[]> {
  return ((await env.t.db('role_permissions').where({ role_id: roleId }).pluck('permission_key')) as string[]).sort();
}
const roleId = (name: string) => env.t.make.roleId(name);
async function holders(roleId: number): Promise<string[]> {
  return ((await env.t.db('users').where({ role_id: roleId }).orderBy('username_lower').pluck('username')) as string[]);
}

beforeAll(async () => {
  env = await startBrowserEnv();
  for (const r of await env.t.db('roles').whereNotNull('builtin_key').select('id', 'builtin_key')) ids[r.builtin_key] = r.id;
  await env.t.makeUser({ username: 'admin', role: 'superuser' });
  await env.t.makeUser({ username: 'adm', role: 'administrator' });
  const license = (await env.t.db('license_types').where({ key: 'process_modeler' }).first('id')).id;
  const now = Date.now();
  // 120 field engineers and a few others to search among.
  const rows = Array.from({ length: 120 }, (_, i) =>
    userRow(
      { username: `field${String(i).padStart(3, '0')}`, firstName: 'Field', lastName: `Engineer${i}`, email: `field${i}@example.com`, passwordHash: null, roleId: ids.analyst, licenseTypeId: license },
      now,
    ),
  );
  await env.t.db('users').insert(rows);
  for (const u of ['olga.office', 'omar.office', 'nina.north']) await env.t.makeUser({ username: u, role: 'viewer' });
});
afterAll(async () => env?.close());

describe('roles in the browser', () => {
  it('creates a role from a template', async () => {
    const page = await env.signedInPage('admin');
    await page.goto('/roles');
    await Promise.all([page.waitForURL('**/roles/new'), page.click('text=+ Create role')]);
    await page.fill('#f-name', 'Field service');
    await page.fill('#f-description', 'Engineers on site');
    await page.check(`input[name=templateRoleId][value="${ids.model_designer}"]`);
    await Promise.all([page.waitForURL(/\/roles\/\d+$/), page.click('form button.primary')]);
    expect(await page.locator('.flash-success').textContent()).toContain('created from the template Model Designer');
    expect(await page.locator('h1').textContent()).toContain('Field service');
    const id = await roleId('Field service');
    expect(await permsOf(id)).toEqual(await permsOf(ids.model_designer));
    expect(await page.locator('input[name=permissions]:checked').count()).toBe(6);
  });

  it('edits the role in the matrix: each ticked box is saved at once and survives a reload', async () => {
    const id = await roleId('Field service');
    const page = await env.signedInPage('admin');
    await page.goto('/roles/matrix');
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    const download = page.locator(`#mx-${id}-logs-download input[type=checkbox]`);
    const create = page.locator(`#mx-${id}-models-create input[type=checkbox]`);
    expect(await download.isChecked()).toBe(false);
    await download.check();
    await page.locator(`#mx-${id}-logs-download .mx-status`).waitFor();
    await htmxSettled(page);
    expect(await page.locator(`#mx-${id}-logs-download .mx-status`).textContent()).toContain('Granted');
    await create.uncheck();
    await page.locator(`#mx-${id}-models-create .mx-status`).waitFor();
    await htmxSettled(page);
    // No full page load happened, and built-in columns offer no checkbox.
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
    expect(await page.locator(`td[id^="mx-${ids.analyst}-"] input`).count()).toBe(0);
    expect(await permsOf(id)).toContain('logs.download');
    expect(await permsOf(id)).not.toContain('models.create');
    await page.reload();
    expect(await page.locator(`#mx-${id}-logs-download input`).isChecked()).toBe(true);
    expect(await page.locator(`#mx-${id}-models-create input`).isChecked()).toBe(false);
    // The per-column Save is only for browsers without JavaScript.
    expect(await page.locator(`form#mx-col-${id} button`).count()).toBe(0);
  });

  it('saves a matrix column with JavaScript off', async () => {
    const id = await roleId('Field service');
    const page = await env.signedInPage('admin', { javaScript: false });
    await page.goto('/roles/matrix');
    expect(await page.locator('.matrix-help').textContent()).toContain('JavaScript is off');
    await page.check(`#mx-${id}-dashboards-view input`);
    await page.uncheck(`#mx-${id}-logs-download input`);
    await Promise.all([page.waitForURL(/\/roles\/matrix/), page.click(`form#mx-col-${id} button`)]);
    expect(await page.locator('.flash-success').textContent()).toContain('Saved 2 changes to Field service');
    expect(await page.locator(`#mx-${id}-dashboards-view input`).isChecked()).toBe(true);
    expect(await permsOf(id)).toContain('dashboards.view');
    expect(await permsOf(id)).not.toContain('logs.download');
  });

  it('shows the matrix read-only to an Administrator', async () => {
    const page = await env.signedInPage('adm');
    await page.goto('/roles/matrix');
    expect(await page.locator('td.mx-cell input').count()).toBe(0);
    expect(await page.locator('.flash-info').textContent()).toContain('only a Superuser may change role permissions');
  });

  it('clones the role under a name the administrator changes before saving', async () => {
    const id = await roleId('Field service');
    const page = await env.signedInPage('admin');
    await page.goto(`/roles/${id}`);
    await Promise.all([page.waitForURL(`**/roles/${id}/clone`), page.click('text=Clone role')]);
    expect(await page.inputValue('#f-name')).toBe('Field service (copy)');
    await page.fill('#f-name', 'Field service EMEA');
    await Promise.all([page.waitForURL(/\/roles\/\d+$/), page.click('form button.primary')]);
    expect(await page.locator('.flash-success').textContent()).toContain('Field service EMEA created as a copy of Field service');
    const copy = await roleId('Field service EMEA');
    expect(await permsOf(copy)).toEqual(await permsOf(id));
  });

  it('assigns users with the dual list: search, “All >>” for the result, Save', async () => {
    const id = await roleId('Field service');
    const page = await env.signedInPage('admin');
    await page.goto(`/roles/${id}/users`);
    // The component's explanation (not the per-user notes on who cannot be moved, also hints).
    expect(await page.locator('#dl-users p.hint').first().textContent()).toContain('moves them out of their current role');
    await page.fill('#dl-users-lq', 'field');
    await page.waitForFunction(() => document.querySelector('#dl-users-lbody .dl-count')?.textContent?.includes('120 users matching'));
    await htmxSettled(page);
    await page.click('button[value="users:add_all"]');
    await page.locator('#dl-users .pending-summary').waitFor();
    await htmxSettled(page);
    expect(await page.locator('#dl-users .pending-summary').textContent()).toContain('120 users to add');
    expect(await page.locator('#dl-users-rbody .dl-count').textContent()).toContain('120 users');
    expect(await holders(id)).toEqual([]);
    await Promise.all([page.waitForURL(`**/roles/${id}/users`), page.click('.form-actions button[value=save]')]);
    expect(await page.locator('.flash-success').textContent()).toContain('120 users moved to Field service');
    expect((await holders(id)).length).toBe(120);
    // Removing one (pending, then Save) moves it to the default role.
    await page.fill('#dl-users-rq', 'field007');
    await page.waitForFunction(() => document.querySelectorAll('#dl-users-rbody li').length === 1);
    await htmxSettled(page);
    await page.check('#dl-users-rbody input[type=checkbox]');
    await page.click('button[value="users:remove"]');
    await page.locator('#dl-users .pending-summary').waitFor();
    await htmxSettled(page);
    await Promise.all([page.waitForURL(`**/roles/${id}/users`), page.click('.form-actions button[value=save]')]);
    expect(await page.locator('.flash-success').textContent()).toContain('moved to the default role Analyst');
    const field007 = await env.t.db('users').join('roles', 'roles.id', 'users.role_id').where('users.username_lower', 'field007').first('roles.name as n');
    expect(field007.n).toBe('Analyst');
  });

  it('assigns users with JavaScript off', async () => {
    const id = await roleId('Field service EMEA');
    const page = await env.signedInPage('admin', { javaScript: false });
    await page.goto(`/roles/${id}/users`);
    await page.fill('#dl-users-lq', 'o');
    await Promise.all([page.waitForNavigation(), page.click('#dl-users .dl-pane:first-of-type button[value="users:search"]')]);
    expect(await page.locator('#dl-users-lbody li').count()).toBe(2);
    await page.check('#dl-users-lbody li:first-child input[type=checkbox]');
    await page.check('#dl-users-lbody li:nth-child(2) input[type=checkbox]');
    await Promise.all([page.waitForNavigation(), page.click('button[value="users:add"]')]);
    expect(await page.locator('#dl-users .pending-summary').textContent()).toContain('2 users to add');
    expect(await page.locator('#dl-users-rbody .badge-pending').count()).toBe(2);
    await Promise.all([page.waitForNavigation(), page.click('.form-actions button[value=save]')]);
    expect(await page.locator('.flash-success').textContent()).toContain('2 users moved to Field service EMEA');
    expect(await holders(id)).toEqual(['olga.office', 'omar.office']);
  });

  it('removes the role in the confirmation dialog, moving its users to the role picked there', async () => {
    const id = await roleId('Field service');
    const page = await env.signedInPage('admin');
    await page.goto(`/roles/${id}`);
    await page.click('text=Remove role…');
    const dialog = page.locator('dialog#modal');
    await dialog.waitFor({ state: 'visible' });
    expect(await dialog.textContent()).toContain('119 users hold Field service');
    await dialog.locator('select[name=moveTo]').selectOption(String(ids.viewer));
    await Promise.all([page.waitForURL(/\/roles$/), dialog.locator('button.danger').click()]);
    expect(await page.locator('.flash-success').textContent()).toContain('119 users now hold the role Viewer');
    expect(await env.t.db('roles').where({ id }).first()).toBeUndefined();
    expect(Number((await env.t.db('users').where('username_lower', 'like', 'field%').where({ role_id: ids.viewer }).count({ n: '*' }).first())!.n)).toBe(119);
  });

  it('removes a role with JavaScript off through the confirmation page', async () => {
    const id = await roleId('Field service EMEA');
    const page = await env.signedInPage('admin', { javaScript: false });
    await page.goto(`/roles/${id}`);
    await Promise.all([page.waitForURL(`**/roles/${id}/delete`), page.click('text=Remove role…')]);
    expect(await page.locator('select[name=moveTo] option:checked').textContent()).toContain('Analyst');
    await Promise.all([page.waitForURL(/\/roles$/), page.click('button.danger')]);
    expect(await page.locator('.flash-success').textContent()).toContain('2 users now hold the role Analyst');
    expect(await holders(ids.analyst)).toEqual(expect.arrayContaining(['olga.office', 'omar.office']));
  });

  it('moves the default-role checkmark from the list', async () => {
    const page = await env.signedInPage('admin');
    await page.goto('/roles');
    // The row named Model Designer (a role made from that template mentions it too).
    const row = page.locator('#role-results tbody tr', { has: page.locator('.role-name', { hasText: /^Model Designer$/ }) });
    await Promise.all([page.waitForURL(/\/roles$/), row.locator('button:has-text("Make default")').click()]);
    expect(await page.locator('.flash-success').textContent()).toContain('Model Designer is now the default role');
    expect(await page.locator('tr.is-default .role-name').textContent()).toBe('Model Designer');
    expect(await page.locator('#role-results .default-mark').count()).toBe(1);
  });
});
