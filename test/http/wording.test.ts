import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $, createTestApp, type Agent, type TestApp } from '../support/app';

let t: TestApp;
let admin: Agent;

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'wordsmith', role: 'superuser' });
  admin = await t.signIn('wordsmith');
});
afterAll(async () => t?.close());

describe('plurals and wording', () => {
  it('says "1 user matches" and "2 users match"', async () => {
    await t.makeUser({ username: 'zebulon.one' });
    const one = $((await admin.get('/users').query({ q: 'zebulon' })).text);
    expect(one('.result-count').text().trim()).toBe('1 user matches');
    await t.makeUser({ username: 'zebulon.two' });
    const two = $((await admin.get('/users').query({ q: 'zebulon' })).text);
    expect(two('.result-count').text().trim()).toBe('2 users match');
  });

  it('names the existing account or role in a duplicate message, as it is spelled there', async () => {
    await t.makeUser({ username: 'Karin.Holm', email: 'karin.holm@example.com' });
    const res = await admin.post('/users/new').type('form').send({
      _csrf: admin.csrf, op: 'save', username: 'karin.holm', email: 'KARIN.HOLM@example.com', firstName: 'K', lastName: 'H', password: 'a-good-long-password', roleId: '', licenseTypeId: '',
    });
    expect(res.status).toBe(422);
    const doc = $(res.text);
    expect(doc('#e-username').text()).toContain('“Karin.Holm” already exists');
    expect(doc('#e-email').text()).toBe('Karin.Holm already has this email address.');
    await t.make.makeRole('Field Auditors');
    const role = await admin.post('/roles/new').type('form').send({ _csrf: admin.csrf, name: 'field auditors', templateRoleId: String(await t.make.roleId('analyst')) });
    expect($(role.text)('#e-name').text()).toContain('A role named “Field Auditors” already exists');
  });

  it('lists only what goes with a removed group: no "0 memberships, 0 …"', async () => {
    const empty = await t.make.makeGroup('Empty Shell');
    const lonely = $((await admin.get(`/groups/${empty.id}/delete`)).text)('.confirm p').first().text();
    expect(lonely).toBe('The group has no members, permissions, shares or relations. This cannot be undone.');
    await t.makeUser({ username: 'member.one' });
    const staffed = await t.make.makeGroup('One Member', ['member.one']);
    const text = $((await admin.get(`/groups/${staffed.id}/delete`)).text)('.confirm p').first().text();
    expect(text).toBe('Removing the group also removes 1 membership (the users themselves stay). This cannot be undone.');
    expect(text).not.toMatch(/\b0 /);
  });
});

describe('groups list', () => {
  it('sorts by member count, most first, and back', async () => {
    await t.makeUser({ username: 'm.a' });
    await t.makeUser({ username: 'm.b' });
    await t.make.makeGroup('Sort Big', ['m.a', 'm.b']);
    await t.make.makeGroup('Sort Small', ['m.a']);
    await t.make.makeGroup('Sort None');
    const names = async (query: Record<string, string>) => {
      const doc = $((await admin.get('/groups').query(query)).text);
      return doc('#group-results tbody tr td:first-child a').toArray().map((a) => doc(a).text());
    };
    const list = await admin.get('/groups').query({ q: 'sort' });
    const link = $(list.text)('#group-results th a').filter((_, a) => $(list.text)(a).text().startsWith('Members')).attr('href');
    expect(link).toBe('/groups?q=sort&sort=members&dir=desc');
    expect(await names({ q: 'sort', sort: 'members', dir: 'desc' })).toEqual(['Sort Big', 'Sort Small', 'Sort None']);
    expect(await names({ q: 'sort', sort: 'members', dir: 'asc' })).toEqual(['Sort None', 'Sort Small', 'Sort Big']);
    expect(await names({ q: 'sort' })).toEqual(['Sort Big', 'Sort None', 'Sort Small']);
  });
});

describe('users list sorted by status', () => {
  it('puts locked accounts first in descending order, then deactivated, then active (names in order within)', async () => {
    await t.makeUser({ username: 'stat.active' });
    await t.makeUser({ username: 'stat.off', status: 'deactivated' });
    await t.makeUser({ username: 'stat.locked' });
    const attacker = await t.anonymous();
    for (let i = 0; i < 7; i++) await attacker.post('/login').type('form').send({ _csrf: attacker.csrf, username: 'stat.locked', password: `wrong-guess-${i}-xxxx` });
    const names = async (dir: string) => {
      const doc = $((await admin.get('/users').query({ q: 'stat.', sort: 'status', dir })).text);
      return doc('#user-results tbody td.user-cell a').toArray().map((a) => doc(a).text());
    };
    expect(await names('desc')).toEqual(['stat.locked', 'stat.off', 'stat.active']);
    expect(await names('asc')).toEqual(['stat.active', 'stat.off', 'stat.locked']);
    const locked = $((await admin.get('/users').query({ status: 'locked' })).text);
    expect(locked('#user-results tbody td.user-cell a').toArray().map((a) => locked(a).text())).toEqual(['stat.locked']);
  });
});
