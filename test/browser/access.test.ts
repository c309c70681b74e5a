import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { htmxSettled, startBrowserEnv, type BrowserEnv } from '../support/browser';
import * as workspaces from '../../src/workspaces/service';
import { SYSTEM_ACTOR } from '../../src/audit/service';

/**
 * In Chromium: the workspace tree (create, rename, move, delete; JavaScript on and off; lazy branches), the
 * group Permissions tab (add, edit, remove; the level field only for Processes) and the access explorer
 * (pick a user and a workspace, the grid, a cell's explanation).
 */
let env: BrowserEnv;

async function wsId(path: string): Promise<number | undefined> {
  let row = await env.t.db('workspaces').whereNull('parent_id').first('id');
  for (const seg of path.split('/').filter(Boolean).slice(1)) {
    row = await env.t.db('workspaces').where({ parent_id: row.id, name_lower: seg.toLowerCase() }).first('id');
    if (!row) return undefined;
  }
  return Number(row.id);
}

async function mkws(path: string): Promise<number> {
  const parts = path.split('/').filter(Boolean);
  const parent = await wsId('/' + parts.slice(0, -1).join('/'));
  return (await workspaces.createWorkspace(env.t.db, SYSTEM_ACTOR, { name: parts[parts.length - 1], parent: { id: parent! } })).workspace.id;
}

const makeGroup = async (name: string, members: string[] = []) => (await env.t.make.makeGroup(name, members, `${name} team`)).id;

/** Marks the window; a full page load loses the mark (so a test can tell an htmx swap from a navigation). */
async function mark(page: Page) {
  await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
}
async function marked(page: Page): Promise<boolean> {
  return (await page.evaluate(() => (window as unknown as { marker?: number }).marker)) === 1;
}

beforeAll(async () => {
  env = await startBrowserEnv();
  await env.t.makeUser({ username: 'admin', role: 'superuser' });
  await env.t.makeUser({ username: 'anna.berg', firstName: 'Anna', lastName: 'Berg' });
  await env.t.makeUser({ username: 'annika.lund', firstName: 'Annika', lastName: 'Lund' });
  await mkws('/Root/Sales');
  await mkws('/Root/Sales/EMEA');
  await mkws('/Root/Engineering');
});
afterAll(async () => env?.close());

describe('workspaces with JavaScript', () => {
  it('selects a workspace into the panel without reloading, then creates, renames, moves and deletes', async () => {
    const page = await env.signedInPage('admin');
    await page.goto('/workspaces');
    await mark(page);
    await page.click('.ws-tree a.ws-link:text-is("Sales")');
    await page.waitForSelector('#ws-panel h2:has-text("Sales")');
    expect(await marked(page)).toBe(true);
    expect(new URL(page.url()).pathname).toBe(`/workspaces/${await wsId('/Root/Sales')}`);
    expect(await page.locator('.ws-tree a[aria-current="true"]').textContent()).toBe('Sales');

    // Create a child: a refusal stays in the panel beside the field; success reloads the tree.
    await page.fill('#f-childName', 'emea');
    await page.click('form[action$="/children"] button[type=submit]');
    await page.waitForSelector('#e-childName');
    expect(await page.locator('#e-childName').textContent()).toContain('already has a sub-workspace named "EMEA"');
    expect(await marked(page)).toBe(true);
    await page.fill('#f-childName', 'Nordics');
    await page.click('form[action$="/children"] button[type=submit]');
    await page.locator('.flash-success', { hasText: '/Root/Sales/Nordics' }).waitFor();
    expect(await page.locator('.ws-tree a.ws-link:text-is("Nordics")').count()).toBe(1);

    // Rename.
    await page.fill('#f-name', 'Northern Europe');
    await page.click('form[action$="/rename"] button[type=submit]');
    await page.locator('.flash-success', { hasText: 'Renamed' }).waitFor();
    expect(await page.locator('#ws-panel code').first().textContent()).toBe('/Root/Sales/Northern Europe');

    // Move: the picker suggests paths; a cycle is refused beside the field.
    await page.fill('#f-parent', '/Root/Sales/Northern Europe');
    await page.click('form[action$="/move"] button[type=submit]');
    await page.waitForSelector('#e-parent');
    expect(await page.locator('#e-parent').textContent()).toContain('cannot be moved into itself');
    await page.fill('#f-parent', '/Root/Eng');
    await page.waitForFunction(() => document.querySelectorAll('#wsl-parent option').length > 0 && (document.querySelector('#wsl-parent option') as HTMLOptionElement).value === '/Root/Engineering');
    await page.fill('#f-parent', '/Root/Engineering');
    await page.waitForFunction(() => (document.querySelector('input[name=parentId]') as HTMLInputElement).value !== '');
    expect(await page.inputValue('input[name=parentId]')).toBe(String(await wsId('/Root/Engineering')));
    await page.click('form[action$="/move"] button[type=submit]');
    await page.locator('.flash-success', { hasText: 'Moved' }).waitFor();
    expect(await page.locator('#ws-panel code').first().textContent()).toBe('/Root/Engineering/Northern Europe');

    // Delete through the dialog.
    const id = await wsId('/Root/Engineering/Northern Europe');
    await page.click('#ws-panel a:has-text("Delete workspace…")');
    await page.locator('dialog#modal').waitFor({ state: 'visible' });
    expect(await page.locator('dialog#modal h2').textContent()).toBe('Delete workspace /Root/Engineering/Northern Europe?');
    await page.click('dialog#modal button.danger');
    await page.locator('.flash-success', { hasText: 'deleted' }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/workspaces/${await wsId('/Root/Engineering')}`);
    expect(await env.t.db('workspaces').where({ id }).first()).toBeUndefined();
  });

  it('loads a closed branch of a large tree when it is opened', async () => {
    const big = await mkws('/Root/Big');
    const now = Date.now();
    const rows = Array.from({ length: 300 }, (_, i) => ({ name: `Team ${String(i).padStart(3, '0')}`, name_lower: `team ${String(i).padStart(3, '0')}`, parent_id: big, created_at: now, updated_at: now }));
    for (let i = 0; i < rows.length; i += 100) await env.t.db('workspaces').insert(rows.slice(i, i + 100));
    const team = await wsId('/Root/Big/Team 000');
    const kids = Array.from({ length: 250 }, (_, i) => ({ name: `Unit ${i}`, name_lower: `unit ${i}`, parent_id: team, created_at: now, updated_at: now }));
    for (let i = 0; i < kids.length; i += 100) await env.t.db('workspaces').insert(kids.slice(i, i + 100));
    const page = await env.signedInPage('admin');
    await page.goto('/workspaces');
    const node = page.locator(`#ws-${team} > details`);
    expect(await node.getAttribute('hx-get')).toBe(`/workspaces/${team}/children`);
    expect(await page.locator(`#ws-${team} .ws-children li[id^="ws-"]`).count()).toBe(0);
    // Big's children are in the page (closed); Team 000's are not, and load when it opens.
    await page.click(`#ws-${big} > details > summary`);
    await page.click(`#ws-${team} > details > summary`);
    await page.waitForFunction((id) => document.querySelectorAll(`#ws-${id} .ws-children li[id^="ws-"]`).length === 200, team);
    await htmxSettled(page);
    await page.click(`#ws-${team} .ws-children li.ws-more a`);
    await page.waitForFunction((id) => document.querySelectorAll(`#ws-${id} .ws-children li[id^="ws-"]`).length === 250, team);
  });
});

describe('workspaces without JavaScript', () => {
  it('creates, renames, moves and deletes with plain forms and the confirmation page', async () => {
    const page = await env.signedInPage('admin', { javaScript: false });
    // The way to the selected workspace is open, in <details> that open and close without script.
    await page.goto(`/workspaces/${await wsId('/Root/Sales/EMEA')}`);
    const sales = page.locator(`#ws-${await wsId('/Root/Sales')} > details`);
    expect(await sales.getAttribute('open')).not.toBeNull();
    await page.click(`#ws-${await wsId('/Root/Sales')} > details > summary`);
    expect(await sales.getAttribute('open')).toBeNull();
    await page.goto(`/workspaces/${await wsId('/Root/Engineering')}`);
    await page.fill('#f-childName', 'Plain');
    await page.click('form[action$="/children"] button[type=submit]');
    await page.locator('.flash-success', { hasText: '/Root/Engineering/Plain' }).waitFor();
    await page.fill('#f-name', 'Plain and simple');
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/rename"] button[type=submit]')]);
    expect(await page.locator('#ws-panel code').first().textContent()).toBe('/Root/Engineering/Plain and simple');
    // The picker without script: type the path (or a unique name).
    await page.fill('#f-parent', 'emea');
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/move"] button[type=submit]')]);
    expect(await page.locator('#ws-panel code').first().textContent()).toBe('/Root/Sales/EMEA/Plain and simple');
    await page.fill('#f-parent', '/Root/Nowhere');
    await Promise.all([page.waitForNavigation(), page.click('form[action$="/move"] button[type=submit]')]);
    expect(await page.locator('#e-parent').textContent()).toContain('There is no workspace "/Root/Nowhere"');
    const id = await wsId('/Root/Sales/EMEA/Plain and simple');
    await Promise.all([page.waitForURL(`**/workspaces/${id}/delete`), page.click('#ws-panel a:has-text("Delete workspace…")')]);
    await Promise.all([page.waitForURL(/\/workspaces\/\d+$/), page.click('.confirm button.danger')]);
    expect(await page.locator('.flash-success').textContent()).toContain('Workspace /Root/Sales/EMEA/Plain and simple deleted.');
  });
});

describe('the group Permissions tab', () => {
  it('adds, edits and removes a permission; the level is offered only for Processes', async () => {
    const gid = await makeGroup('Sales team');
    const page = await env.signedInPage('admin');
    await page.goto(`/groups/${gid}/permissions`);
    const level = page.locator('.perm-form .level-field');
    await page.selectOption('#f-domain', { label: 'Files' });
    expect(await level.isVisible()).toBe(false);
    expect(await page.locator('#f-level').isDisabled()).toBe(true);
    await page.selectOption('#f-domain', { label: 'Processes' });
    expect(await level.isVisible()).toBe(true);
    expect(await page.locator('#f-level').isDisabled()).toBe(false);

    // A refusal comes back beside the fields without reloading.
    await mark(page);
    await page.uncheck('input[name=ops][value=R]');
    await page.click('.perm-form button[type=submit]');
    await page.waitForSelector('#e-ops');
    expect(await page.locator('#e-ops').textContent()).toContain('Tick at least one operation');
    expect(await page.locator('#e-workspace').textContent()).toContain('Choose a workspace.');
    expect(await marked(page)).toBe(true);

    await page.click('.perm-form .switch-deny');
    await page.check('input[name=ops][value=R]');
    await page.check('input[name=ops][value=M]');
    await page.selectOption('#f-level', '3');
    await page.fill('#f-workspace', '/Root/Sa');
    await page.waitForFunction(() => !!document.querySelector('#wsl-workspace option[value="/Root/Sales"]'));
    await page.fill('#f-workspace', '/Root/Sales');
    await page.click('.perm-form label:has-text("High")');
    await page.click('.perm-form button[type=submit]');
    await page.locator('.flash-success', { hasText: 'Permission added' }).waitFor();
    const row = page.locator('#perm-list tbody tr').first();
    expect(await row.locator('.badge-deny').textContent()).toBe('Deny');
    expect(await row.locator('td').nth(1).textContent()).toBe('Processes');
    expect(await row.locator('.perm-path').textContent()).toBe('/Root/Sales');
    expect(await row.locator('.perm-ops .op-on').allTextContents()).toEqual(['R', 'M']);
    expect(await row.locator('td').nth(5).textContent()).toBe('3');

    // Edit: the editor swaps in place; switching to Files hides and disables the level.
    await mark(page);
    await row.locator('a:has-text("Edit")').click();
    await page.waitForSelector('#perm-editor h2:has-text("Edit the Deny on Processes at /Root/Sales")');
    expect(await marked(page)).toBe(true);
    expect(await page.inputValue('#f-workspace')).toBe('/Root/Sales');
    await page.selectOption('#f-domain', { label: 'Files' });
    expect(await level.isVisible()).toBe(false);
    await page.check('input[name=ops][value=D]');
    await page.click('.perm-form button[type=submit]');
    await page.locator('.flash-success', { hasText: 'saved' }).waitFor();
    const edited = page.locator('#perm-list tbody tr').first();
    expect(await edited.locator('td').nth(1).textContent()).toBe('Files');
    expect(await edited.locator('.perm-ops .op-on').allTextContents()).toEqual(['R', 'M', 'D']);
    expect(await edited.locator('td').nth(5).textContent()).toBe('—');

    // Remove through the shared confirmation dialog.
    await edited.locator('a:has-text("Remove")').click();
    await page.locator('dialog#modal').waitFor({ state: 'visible' });
    await page.click('dialog#modal button.danger');
    await page.locator('.flash-success', { hasText: 'Permission removed' }).waitFor();
    expect(await page.locator('#perm-list tbody tr').count()).toBe(0);
    expect(await env.t.db('domain_permissions').where({ group_id: gid }).count({ n: '*' }).first()).toMatchObject({ n: 0 });
  });

  it('works without JavaScript: the level shows for Processes by CSS, forms post, removal has its page', async () => {
    const gid = await makeGroup('No script team');
    const page = await env.signedInPage('admin', { javaScript: false });
    await page.goto(`/groups/${gid}/permissions`);
    await page.selectOption('#f-domain', { label: 'Reports' });
    expect(await page.locator('.perm-form .level-field').isVisible()).toBe(false);
    await page.selectOption('#f-domain', { label: 'Processes' });
    expect(await page.locator('.perm-form .level-field').isVisible()).toBe(true);
    await page.selectOption('#f-level', '2');
    await page.fill('#f-workspace', 'engineering');
    await Promise.all([page.waitForNavigation(), page.click('.perm-form button[type=submit]')]);
    expect(await page.locator('.flash-success').textContent()).toContain('Low Allow Processes on /Root/Engineering');
    // A level for another domain is refused beside the (now shown) field.
    await page.selectOption('#f-domain', { label: 'Processes' });
    await page.selectOption('#f-level', '5');
    await page.selectOption('#f-domain', { label: 'Files' });
    await page.fill('#f-workspace', '/Root');
    await Promise.all([page.waitForNavigation(), page.click('.perm-form button[type=submit]')]);
    expect(await page.locator('#e-level').textContent()).toContain('Levels apply only to Processes');
    expect(await page.locator('.perm-form .level-field').isVisible()).toBe(true);
    const pid = (await env.t.db('domain_permissions').where({ group_id: gid }).first('id')).id;
    await Promise.all([page.waitForURL(`**/groups/${gid}/permissions/${pid}/delete`), page.click(`#perm-${pid} a:has-text("Remove")`)]);
    await Promise.all([page.waitForURL(`**/groups/${gid}/permissions`), page.click('.confirm button.danger')]);
    expect(await page.locator('#perm-list tbody tr').count()).toBe(0);
  });
});

describe('the access explorer', () => {
  beforeAll(async () => {
    const gid = await makeGroup('Explorers', ['anna.berg']);
    const domain = await env.t.db('domains').where({ key: 'files' }).first('id');
    const now = Date.now();
    await env.t.db('domain_permissions').insert({
      group_id: gid, effect: 'allow', domain_id: domain.id, workspace_id: await wsId('/Root/Sales'), transitive: true,
      can_read: true, can_modify: true, can_create: false, can_delete: false, level: 0, priority: 'low', created_at: now, updated_at: now,
    });
    const { recordChange } = await import('../../src/changes/service');
    await recordChange(env.t.db, { kind: 'rebuild' });
  });

  it('picks a user and a workspace, shows the grid, and explains a cell in place', async () => {
    const page = await env.signedInPage('admin');
    await page.goto('/access');
    await page.fill('#f-user', 'ann');
    await page.waitForFunction(() => document.querySelectorAll('#explorer-users option').length === 2);
    expect(await page.locator('#explorer-users option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(['anna.berg', 'annika.lund']);
    await page.fill('#f-user', 'anna.berg');
    await page.fill('#f-workspace', 'EMEA');
    await page.waitForFunction(() => !!document.querySelector('#wsl-workspace option[value="/Root/Sales/EMEA"]'));
    await mark(page);
    await page.click('.explorer-form button[type=submit]');
    await page.waitForSelector('table.access-grid');
    expect(await marked(page)).toBe(true);
    expect(await page.locator('#grid-title code').textContent()).toBe('/Root/Sales/EMEA');
    const files = page.locator('table.access-grid tr:has(th:text-is("Files"))');
    expect(await files.locator('.cell-word').allTextContents()).toEqual(['Allowed', 'Allowed', 'Denied', 'Denied']);

    await files.locator('a.cell').first().click();
    await page.waitForSelector('#explanation .verdict');
    await htmxSettled(page);
    expect(await marked(page)).toBe(true);
    expect(await page.locator('#explanation .verdict').textContent()).toContain('Allowed');
    expect(await page.locator('#explanation .rule').first().textContent()).toContain('Explorers');
    expect(await page.locator('#explanation .rule').first().textContent()).toContain('/Root/Sales');
    expect(await files.locator('a.cell').first().getAttribute('aria-current')).toBe('true');
    expect(new URL(page.url()).searchParams.get('domain')).toBe('files');

    await files.locator('a.cell').nth(3).click();
    await page.waitForSelector('#explanation .reason-key:text-is("default")');
    expect(await page.locator('#explanation').textContent()).toContain('None: no permission matched.');
    expect(await files.locator('a.cell').first().getAttribute('aria-current')).toBeNull();
  });

  it('works without JavaScript: the form and the cells are links to whole pages', async () => {
    const page = await env.signedInPage('admin', { javaScript: false });
    await page.goto('/access');
    await page.fill('#f-user', 'anna.berg');
    await page.fill('#f-workspace', '/Root/Sales');
    await Promise.all([page.waitForNavigation(), page.click('.explorer-form button[type=submit]')]);
    const files = page.locator('table.access-grid tr:has(th:text-is("Files"))');
    await Promise.all([page.waitForNavigation(), files.locator('a.cell').nth(1).click()]);
    expect(await page.locator('#explanation h2').textContent()).toContain('Modify in Files');
    expect(await page.locator('#explanation .verdict').textContent()).toContain('Allowed');
  });

  it('shows who may and who may not', async () => {
    const page = await env.signedInPage('admin');
    await page.goto('/access/who');
    await page.selectOption('#f-domain', { label: 'Files' });
    await page.selectOption('#f-op', 'M');
    await page.fill('#f-workspace', '/Root/Sales/EMEA');
    await Promise.all([page.waitForNavigation(), page.click('.who-form button[type=submit]')]);
    expect(await page.locator('#who-results tbody td:first-child').allTextContents()).toEqual(['anna.berg']);
    await mark(page);
    await page.click('#who-results nav.tabs a:has-text("May not")');
    await page.waitForFunction(() => new URL(location.href).searchParams.get('show') === 'not');
    await htmxSettled(page);
    expect(await marked(page)).toBe(true);
    expect(await page.locator('#who-results tbody td:first-child').allTextContents()).toEqual(['admin', 'annika.lund']);
  });
});
