import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $, createTestApp, type Agent, type TestApp } from '../support/app';

let t: TestApp;
let admin: Agent;
let adminId: number;

beforeAll(async () => {
  t = await createTestApp();
  adminId = await t.makeUser({ username: 'chief', role: 'superuser' });
  admin = await t.signIn('chief');
});
afterAll(async () => t?.close());

describe('controls that would be refused are not offered, with the reason', () => {
  it('on your own user page the form is shown but cannot be saved, and says why', async () => {
    const doc = $((await admin.get(`/users/${adminId}`)).text);
    expect(doc('form.user-form fieldset.bare[disabled]')).toHaveLength(1);
    expect(doc('form.user-form button.primary')).toHaveLength(0);
    expect(doc('.self-note').text()).toContain('nobody changes their own role');
    expect(doc('.page-head .actions')).toHaveLength(0);
    // Someone else's page is editable as before.
    const other = await t.makeUser({ username: 'someone.else' });
    const theirs = $((await admin.get(`/users/${other}`)).text);
    expect(theirs('form.user-form fieldset.bare[disabled]')).toHaveLength(0);
    expect(theirs('form.user-form button.primary').text()).toBe('Save');
  });

  it('on the role assignment page you cannot tick yourself, and "move this page" passes over you', async () => {
    const superuser = await t.make.roleId('superuser');
    const doc = $((await admin.get(`/roles/${superuser}/users`)).text);
    const mine = doc('#dl-users li').filter((_, li) => doc(li).find('.dl-label').text() === 'chief');
    expect(mine.find('input[type=checkbox]').attr('disabled')).toBeDefined();
    expect(mine.find('input[type=checkbox]').attr('name')).toBeUndefined();
    expect(mine.find('.dl-why').text()).toBe('You cannot change your own role.');
    // "< Page" on the assigned side, which holds only the administrator: nothing becomes pending.
    const moved = await admin.post(`/roles/${superuser}/users`).type('form').send({ _csrf: admin.csrf, op: 'users:remove_page', users_rids: String(adminId) });
    expect(moved.status).toBe(200);
    expect($(moved.text)('input[name=users_remove]').val()).toBe('');
  });

  it('out of the default role, "<" is not offered; the reason is', async () => {
    await t.makeUser({ username: 'default.holder' });
    const analyst = await t.make.roleId('analyst');
    const doc = $((await admin.get(`/roles/${analyst}/users`)).text);
    const ops = doc('#dl-users button[name=op]').toArray().map((b) => doc(b).attr('value'));
    expect(ops).toContain('users:add');
    expect(ops).not.toContain('users:remove');
    expect(ops).not.toContain('users:remove_page');
    expect(doc('.dl-noremove').text()).toContain('the default role');
    const holder = doc('#dl-users li').filter((_, li) => doc(li).find('.dl-label').text() === 'default.holder');
    expect(holder.find('input[type=checkbox]').attr('disabled')).toBeDefined();
    // Another role offers both directions.
    const viewer = $((await admin.get(`/roles/${await t.make.roleId('viewer')}/users`)).text);
    expect(viewer('#dl-users button[name=op]').toArray().map((b) => viewer(b).attr('value'))).toContain('users:remove');
  });
});

describe('role assignment search', () => {
  it('finds users by the start of username, first name, last name or email, every word narrowing', async () => {
    await t.make.makeUser({ username: 'q.one', firstName: 'Quirinus', lastName: 'Oakley', email: 'qo@northwind.example.com' });
    await t.make.makeUser({ username: 'q.two', firstName: 'Quentin', lastName: 'Oakley', email: 'qt@example.com' });
    const viewer = await t.make.roleId('viewer');
    const search = async (text: string) => {
      const res = await admin.post(`/roles/${viewer}/users`).type('form').send({ _csrf: admin.csrf, op: 'users:search', users_lq: text });
      const doc = $(res.text);
      return { names: doc('#dl-users-lbody .dl-label').toArray().map((e) => doc(e).text()), count: doc('#dl-users-lbody .dl-count').text().trim() };
    };
    expect(await search('oakl')).toEqual({ names: ['q.one', 'q.two'], count: '2 users matching' });
    expect(await search('quir')).toEqual({ names: ['q.one'], count: '1 user matching' });
    expect(await search('northwind')).toEqual({ names: [], count: '0 users matching' });
    expect((await search('qo@north')).names).toEqual(['q.one']);
    expect((await search('oakley quen')).names).toEqual(['q.two']);
  });
});
