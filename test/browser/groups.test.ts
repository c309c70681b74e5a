import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { htmxSettled, startBrowserEnv, type BrowserEnv } from '../support/browser';

/** The Groups console in Chromium: the Members dual list (JavaScript on and off), + Add member, relations. */
let env: BrowserEnv;

const makeGroup = async (name: string, members: string[] = []) => (await env.t.make.makeGroup(name, members, `${name} team`)).id;

async function memberNames(groupId: number): Promise<string[]> {
  const rows = await env.t.db('users').join('group_members', 'group_members.user_id', 'users.id').where('group_members.group_id', groupId).orderBy('users.username_lower').select('users.username');
  return rows.map((r: { username: string }) => r.username);
}

const labels = (page: Page, side: 'l' | 'r') => page.locator(`#dl-members-${side}body .dl-label`).allTextContents();
const pick = (page: Page, side: 'l' | 'r', username: string) =>
  page.locator(`#dl-members-${side}body li`).filter({ has: page.locator('.dl-label', { hasText: new RegExp(`^${username.replace('.', '\\.')}$`) }) }).locator('input[type=checkbox]').check();

beforeAll(async () => {
  env = await startBrowserEnv();
  await env.t.makeUser({ username: 'admin', role: 'superuser' });
  await env.t.makeUser({ username: 'admin2', role: 'administrator' });
  for (const [u, f, l] of [
    ['anna.berg', 'Anna', 'Berg'],
    ['annika.lund', 'Annika', 'Lund'],
    ['bob.stone', 'Bob', 'Stone'],
    ['carla.diaz', 'Carla', 'Diaz'],
    ['zoe.quinn', 'Zoë', 'Quinn'],
  ]) {
    await env.t.makeUser({ username: u, firstName: f, lastName: l });
  }
  for (let i = 0; i < 40; i++) await env.t.makeUser({ username: `member${String(i).padStart(2, '0')}`, firstName: 'Member', lastName: `No ${i}` });
});
afterAll(async () => env?.close());

describe('the Members dual list with JavaScript', () => {
  it('moves with > and <, shows pending moves before Save, swaps only the component, and saves', async () => {
    const gid = await makeGroup('Alpha', ['carla.diaz']);
    const page = await env.signedInPage('admin');
    await page.goto(`/groups/${gid}`);
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    await pick(page, 'l', 'anna.berg');
    await pick(page, 'l', 'bob.stone');
    await page.click('#dl-members .dl-moves button[value="members:add"]');
    await page.waitForSelector('#dl-members .pending-summary');
    await htmxSettled(page);
    expect(await page.locator('#dl-members .pending-summary').textContent()).toMatch(/2 users to add, 0 users to remove/);
    expect(await page.locator('#dl-members-rbody li.pending .dl-label').allTextContents()).toEqual(['anna.berg', 'bob.stone']);
    expect(await page.locator('#dl-members-rbody li.pending .badge-pending').first().textContent()).toBe('will be added');
    await pick(page, 'r', 'carla.diaz');
    await page.click('#dl-members .dl-moves button[value="members:remove"]');
    await page.waitForSelector('#dl-members-lbody li.pending');
    await htmxSettled(page);
    expect(await page.locator('#dl-members-lbody li.pending .badge-pending').textContent()).toBe('will be removed');
    expect(await page.locator('#dl-members .pending-summary').textContent()).toMatch(/2 users to add, 1 user to remove/);
    // Nothing is saved yet, and the page was never reloaded.
    expect(await memberNames(gid)).toEqual(['carla.diaz']);
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
    await Promise.all([page.waitForURL(`**/groups/${gid}`), page.click('form.group-form button[value=save]')]);
    expect(await page.locator('.flash-success').textContent()).toContain('2 users added, 1 user removed');
    expect(await memberNames(gid)).toEqual(['anna.berg', 'bob.stone']);
    expect(await labels(page, 'r')).toEqual(['anna.berg', 'bob.stone']);
    expect(await page.locator('#member-count').textContent()).toBe('2 members');
  });

  it('searches both sides as you type and pages through them', async () => {
    const gid = await makeGroup('Beta', ['annika.lund', ...Array.from({ length: 30 }, (_, i) => `member${String(i).padStart(2, '0')}`)]);
    const page = await env.signedInPage('admin');
    await page.goto(`/groups/${gid}`);
    await page.fill('#dl-members-lq', 'ann');
    await page.waitForFunction(() => document.querySelectorAll('#dl-members-lbody .dl-label').length === 1);
    await htmxSettled(page);
    expect(await labels(page, 'l')).toEqual(['anna.berg']);
    await page.fill('#dl-members-rq', 'ann');
    await page.waitForFunction(() => document.querySelectorAll('#dl-members-rbody .dl-label').length === 1);
    expect(await labels(page, 'r')).toEqual(['annika.lund']);
    // Enter in a search box searches; it neither saves nor undoes.
    await page.fill('#dl-members-rq', 'member0');
    await page.press('#dl-members-rq', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('#dl-members-rbody .dl-label').length === 10);
    expect(page.url()).toContain(`/groups/${gid}`);
    await page.fill('#dl-members-rq', '');
    await page.waitForFunction(() => document.querySelector('#dl-members-rbody .dl-count')?.textContent?.trim() === '31 users');
    await htmxSettled(page);
    expect(await page.locator('#dl-members-rbody .dl-pager span').textContent()).toBe('Page 1 of 2');
    await page.click('#dl-members-rbody .dl-pager button[aria-label^="Next page"]');
    await page.waitForFunction(() => document.querySelector('#dl-members-rbody .dl-pager span')?.textContent === 'Page 2 of 2');
    await htmxSettled(page);
    expect(await labels(page, 'r')).toEqual(['member24', 'member25', 'member26', 'member27', 'member28', 'member29']);
  });

  it('warns before leaving with unsaved moves, and not after Undo', async () => {
    const gid = await makeGroup('Gamma');
    const page = await env.signedInPage('admin');
    await page.goto(`/groups/${gid}`);
    await pick(page, 'l', 'anna.berg');
    await page.click('#dl-members .dl-moves button[value="members:add"]');
    await page.waitForSelector('#dl-members[data-dirty=true]');
    await htmxSettled(page);
    const dialogs: string[] = [];
    page.once('dialog', (d) => {
      dialogs.push(d.type());
      void d.dismiss();
    });
    await page.click('nav.sidebar a[href="/users"]');
    await expect.poll(() => dialogs).toEqual(['beforeunload']);
    // Staying on the page keeps the pending move.
    expect(new URL(page.url()).pathname).toBe(`/groups/${gid}`);
    expect(await page.locator('#dl-members .pending-summary').textContent()).toMatch(/1 user to add/);
    await page.click('#dl-members .pending-summary button');
    await page.waitForSelector('#dl-members[data-dirty=false]');
    await htmxSettled(page);
    page.on('dialog', (d) => {
      dialogs.push(d.type());
      void d.dismiss();
    });
    await Promise.all([page.waitForURL('**/users'), page.click('nav.sidebar a[href="/users"]')]);
    expect(dialogs).toEqual(['beforeunload']);
  });

  it('merges two administrators saving the same group from two browsers: nobody loses a change', async () => {
    const gid = await makeGroup('Delta', ['carla.diaz', 'bob.stone']);
    const first = await env.signedInPage('admin');
    const second = await env.signedInPage('admin2');
    await first.goto(`/groups/${gid}`);
    await second.goto(`/groups/${gid}`);
    // First: add anna, remove bob. Second, from the page loaded before that save: search for and add zoe, remove carla.
    await pick(first, 'l', 'anna.berg');
    await first.click('#dl-members .dl-moves button[value="members:add"]');
    await first.waitForSelector('#dl-members-rbody li.pending');
    await htmxSettled(first);
    await pick(first, 'r', 'bob.stone');
    await first.click('#dl-members .dl-moves button[value="members:remove"]');
    await first.waitForSelector('#dl-members-lbody li.pending');
    await htmxSettled(first);
    await second.fill('#dl-members-lq', 'zo');
    await second.waitForFunction(() => document.querySelectorAll('#dl-members-lbody .dl-label').length === 1);
    await htmxSettled(second);
    await pick(second, 'l', 'zoe.quinn');
    await second.click('#dl-members .dl-moves button[value="members:add"]');
    await second.waitForSelector('#dl-members-rbody li.pending');
    await htmxSettled(second);
    await pick(second, 'r', 'carla.diaz');
    await second.click('#dl-members .dl-moves button[value="members:remove"]');
    await second.waitForFunction(() => /1 user to remove/.test(document.querySelector('#dl-members .pending-summary')?.textContent ?? ''));
    await htmxSettled(second);

    await Promise.all([first.waitForURL(`**/groups/${gid}`), first.click('form.group-form button[value=save]')]);
    expect(await first.locator('.flash-success').textContent()).toContain('1 user added, 1 user removed');
    await Promise.all([second.waitForURL(`**/groups/${gid}`), second.click('form.group-form button[value=save]')]);
    const message = await second.locator('.flash-info').textContent();
    expect(message).toContain('Delta had changed meanwhile');
    expect(message).toContain('Your moves were merged with theirs and nothing was lost: 1 user added, 1 user removed');
    expect(message).toContain('Delta now has 2 members');
    expect(await memberNames(gid)).toEqual(['anna.berg', 'zoe.quinn']);
    expect(await labels(second, 'r')).toEqual(['anna.berg', 'zoe.quinn']);
  });

  it('+ Add member: type-ahead, pick one, added at once while pending moves stay pending', async () => {
    const gid = await makeGroup('Epsilon', ['bob.stone']);
    const page = await env.signedInPage('admin');
    await page.goto(`/groups/${gid}`);
    await pick(page, 'l', 'carla.diaz');
    await page.click('#dl-members .dl-moves button[value="members:add"]');
    await page.waitForSelector('#dl-members .pending-summary');
    await htmxSettled(page);
    await page.fill('#add-member-q', 'an');
    await page.waitForSelector('#add-member-results .candidate-list');
    await htmxSettled(page);
    expect(await page.locator('#add-member-results .candidate-name').allTextContents()).toEqual(['anna.berg', 'annika.lund']);
    await page.fill('#add-member-q', 'anni');
    await page.waitForFunction(() => document.querySelectorAll('#add-member-results .candidate-name').length === 1);
    await page.click('#add-member-results button.candidate');
    await page.waitForSelector('#add-member-results .flash-success');
    await htmxSettled(page);
    expect(await page.locator('#add-member-results .flash-success').textContent()).toContain('annika.lund was added to Epsilon, which now has 2 members');
    expect(await memberNames(gid)).toEqual(['annika.lund', 'bob.stone']);
    expect(await page.locator('#member-count').textContent()).toBe('2 members');
    expect(await labels(page, 'r')).toEqual(['annika.lund', 'bob.stone', 'carla.diaz']);
    expect(await page.locator('#dl-members .pending-summary').textContent()).toMatch(/1 user to add/);
    expect(await page.locator('#add-member-results .candidate-name').count()).toBe(0);
    // Saving afterwards is not a "changed meanwhile" merge: the form took the new version.
    await Promise.all([page.waitForURL(`**/groups/${gid}`), page.click('form.group-form button[value=save]')]);
    expect(await page.locator('.flash-success').textContent()).toContain('Members of Epsilon saved: 1 user added');
    expect(await memberNames(gid)).toEqual(['annika.lund', 'bob.stone', 'carla.diaz']);
  });
});

describe('the Members dual list without JavaScript', () => {
  it('moves, searches, pages and saves with full page loads', async () => {
    const gid = await makeGroup('Zeta', Array.from({ length: 30 }, (_, i) => `member${String(i).padStart(2, '0')}`));
    const page = await env.signedInPage('admin', { javaScript: false });
    await page.goto(`/groups/${gid}`);
    await page.fill('#dl-members-lq', 'ann');
    await Promise.all([page.waitForLoadState('load'), page.click('#dl-members .dl-pane:first-child .dl-search button')]);
    expect(await labels(page, 'l')).toEqual(['anna.berg', 'annika.lund']);
    await pick(page, 'l', 'anna.berg');
    await Promise.all([page.waitForLoadState('load'), page.click('#dl-members .dl-moves button[value="members:add"]')]);
    expect(await page.locator('#dl-members .pending-summary').textContent()).toMatch(/1 user to add/);
    expect(await page.locator('#dl-members-rbody li.pending .dl-label').allTextContents()).toEqual(['anna.berg']);
    // The search text stays; the right side pages on, keeping the pending move.
    expect(await page.inputValue('#dl-members-lq')).toBe('ann');
    await Promise.all([page.waitForLoadState('load'), page.click('#dl-members-rbody .dl-pager button[aria-label^="Next page"]')]);
    expect(await page.locator('#dl-members-rbody .dl-pager span').textContent()).toBe('Page 2 of 2');
    await pick(page, 'r', 'member29');
    await Promise.all([page.waitForLoadState('load'), page.click('#dl-members .dl-moves button[value="members:remove"]')]);
    expect(await page.locator('#dl-members .pending-summary').textContent()).toMatch(/1 user to add, 1 user to remove/);
    expect(await memberNames(gid)).not.toContain('anna.berg');
    await Promise.all([page.waitForURL(`**/groups/${gid}`), page.click('form.group-form button[value=save]')]);
    expect(await page.locator('.flash-success').textContent()).toContain('Members of Zeta saved: 1 user added, 1 user removed');
    const members = await memberNames(gid);
    expect(members).toContain('anna.berg');
    expect(members).not.toContain('member29');
    expect(members.length).toBe(30);
  });

  it('+ Add member works as a plain form: Find, then pick', async () => {
    const gid = await makeGroup('Eta');
    const page = await env.signedInPage('admin', { javaScript: false });
    await page.goto(`/groups/${gid}`);
    await page.fill('#add-member-q', 'zo');
    await Promise.all([page.waitForURL(/candidates\?q=zo/), page.click('.add-member-search button[type=submit]')]);
    expect(await page.locator('#add-member-results .candidate-name').allTextContents()).toEqual(['zoe.quinn']);
    await Promise.all([page.waitForURL(`**/groups/${gid}`), page.click('#add-member-results button.candidate')]);
    expect(await page.locator('.flash-success').textContent()).toContain('zoe.quinn was added to Eta');
    expect(await memberNames(gid)).toEqual(['zoe.quinn']);
  });
});

describe('relations in the browser', () => {
  it('adds a relation with group type-ahead, answers "who approves", and removes it through the dialog', async () => {
    await makeGroup('Writers', ['anna.berg']);
    await makeGroup('Editors', ['bob.stone', 'carla.diaz']);
    const page = await env.signedInPage('admin');
    await page.goto('/groups/relations');
    await page.locator('#f-requester').pressSequentially('wri');
    await page.waitForFunction(() => !!document.querySelector('#requester-options option[value="Writers"]'));
    await page.fill('#f-requester', 'Writers');
    await page.locator('#f-approver').pressSequentially('edi');
    await page.waitForFunction(() => !!document.querySelector('#approver-options option[value="Editors"]'));
    await page.fill('#f-approver', 'Editors');
    await htmxSettled(page);
    await Promise.all([page.waitForURL('**/groups/relations'), page.click('.relation-form button[type=submit]')]);
    expect(await page.locator('.flash-success').textContent()).toContain('members of Writers now need approval from a member of Editors');
    expect(await page.locator('#relation-results tbody tr td:first-child').allTextContents()).toEqual(['Writers']);

    // A refusal shows beside the field.
    await page.fill('#f-requester', 'Writers');
    await page.fill('#f-approver', 'writers');
    await page.click('.relation-form button[type=submit]');
    await page.waitForSelector('#e-approver');
    expect(await page.locator('#e-approver').textContent()).toContain('cannot approve its own');

    await page.fill('#f-user', 'anna.berg');
    await page.click('.who-form button[type=submit]');
    await page.waitForSelector('#who-approves tbody tr');
    await htmxSettled(page);
    expect(await page.locator('#who-approves tbody td a').allTextContents()).toEqual(['Editors']);
    await page.fill('#f-user', 'bob.stone');
    await page.click('.who-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#who-approves')?.textContent?.includes('publishes without approval'));

    await page.click('#relation-results a[aria-label="Remove the relation Writers → Editors"]');
    await page.waitForSelector('dialog#modal[open]');
    expect(await page.locator('#modal .confirm p').textContent()).toContain('Writers has no other approver group');
    await Promise.all([page.waitForURL('**/groups/relations'), page.click('#modal button.danger')]);
    expect(await page.locator('.flash-success').textContent()).toContain('Editors no longer approves for Writers');
    expect(await page.locator('#relation-results tbody tr').count()).toBe(0);
  });

  it('adds and removes from a group’s Relations tab', async () => {
    const gid = await makeGroup('Translators');
    await makeGroup('Linguists');
    const page = await env.signedInPage('admin');
    await page.goto(`/groups/${gid}/relations`);
    await page.fill('#f-approver', 'linguists');
    await Promise.all([page.waitForURL(`**/groups/${gid}/relations`), page.click('section:has(#rel-approver-title) .relation-add button')]);
    expect(await page.locator('section:has(#rel-approver-title) tbody td:first-child a').allTextContents()).toEqual(['Linguists']);
    await page.click('section:has(#rel-approver-title) a[aria-label="Remove Linguists"]');
    await page.waitForSelector('dialog#modal[open]');
    await Promise.all([page.waitForURL(`**/groups/${gid}/relations`), page.click('#modal button.danger')]);
    expect(await page.locator('section:has(#rel-approver-title) .empty').textContent()).toBe('No approver group.');
  });

  it('removes a group through the confirmation dialog', async () => {
    const gid = await makeGroup('Short-lived', ['anna.berg']);
    const page = await env.signedInPage('admin');
    await page.goto('/groups?q=short');
    await page.click('a[aria-label="Remove group Short-lived"]');
    await page.waitForSelector('dialog#modal[open]');
    expect(await page.locator('#modal .confirm p').textContent()).toContain('1 membership');
    await page.click('#modal a[data-close-dialog]');
    await page.waitForFunction(() => !document.querySelector('dialog#modal[open]'));
    expect(await env.t.db('groups').where({ id: gid }).first()).toBeTruthy();
    await page.click('a[aria-label="Remove group Short-lived"]');
    await page.waitForSelector('dialog#modal[open]');
    await Promise.all([page.waitForURL('**/groups'), page.click('#modal button.danger')]);
    expect(await page.locator('.flash-success').textContent()).toContain('Group Short-lived removed');
    expect(await env.t.db('groups').where({ id: gid }).first()).toBeUndefined();
  });
});
