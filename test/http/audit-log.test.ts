import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $, createTestApp, type Agent, type TestApp } from '../support/app';
import { userEditForm } from '../support/forms';

let t: TestApp;
let admin: Agent;

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'auditor', role: 'superuser' });
  admin = await t.signIn('auditor');
});
afterAll(async () => t?.close());

/** The rows of the audit table as text: action label, object, and the change field by field. */
async function events(query: Record<string, string>) {
  const page = await admin.get('/audit').query(query);
  expect(page.status).toBe(200);
  const doc = $(page.text);
  // What a sighted reader sees: the screen-reader words ("Before:", "Added:") aside.
  doc('.visually-hidden').remove();
  return doc('#audit-results table.audit > tbody > tr')
    .toArray()
    .map((tr) => {
      const cells = doc(tr).children('td');
      return {
        action: cells.eq(2).text().trim(),
        object: cells.eq(3).text().replace(/\s+/g, ' ').trim(),
        changes: doc(tr)
          .find('table.audit-diff tr')
          .toArray()
          .map((row) => doc(row).text().replace(/\s+/g, ' ').trim()),
      };
    });
}

describe('the audit log in human terms', () => {
  it('labels actions in words ("Signed in", "Removed user") and offers them by label in the filter', async () => {
    const doomed = await t.makeUser({ username: 'leaver.one' });
    await admin.get(`/users/${doomed}/delete`);
    const removed = await admin.post(`/users/${doomed}/delete`).type('form').send({ _csrf: admin.csrf, assets: 'none' });
    expect(removed.status).toBe(303);
    const [removal] = await events({ action: 'user.delete' });
    expect(removal.action).toBe('Removed user');
    expect(removal.object).toBe('user leaver.one');
    expect(removal.changes).toContain('Username leaver.one');
    const [signIn] = await events({ action: 'auth.sign_in' });
    expect(signIn.action).toBe('Signed in');
    const page = await admin.get('/audit');
    const option = $(page.text)('#a-action option[value="user.delete"]');
    expect(option.text()).toBe('Removed user');
  });

  it('shows a change field by field, only what changed, with group names instead of ids', async () => {
    const sales = await t.make.makeGroup('Sales Nordics');
    const finance = await t.make.makeGroup('Finance Iberia');
    await t.make.makeUser({ username: 'mover', firstName: 'Mo', groups: ['Finance Iberia'] });
    const id = await t.make.userId('mover');
    const form = await userEditForm(admin, id, { firstName: 'Maurice', roleId: String(await t.make.roleId('viewer')), groups_add: String(sales.id), groups_remove: String(finance.id) });
    expect((await admin.post(`/users/${id}`).type('form').send(form)).status).toBe(303);
    const [change] = await events({ action: 'user.update', object: 'mover' });
    expect(change.action).toBe('Changed user');
    expect(change.changes).toEqual(
      expect.arrayContaining(['First name Mo → Maurice', 'Role Analyst → Viewer', 'Groups + Sales Nordics − Finance Iberia']),
    );
    // Unchanged fields are left out; no raw ids or JSON.
    expect(change.changes.some((c) => c.startsWith('Email'))).toBe(false);
    expect(change.changes.join(' ')).not.toMatch(/groupIds|[{}]/);
    expect(change.changes.join(' ')).not.toContain(String(sales.id));
  });
});
