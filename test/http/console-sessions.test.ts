import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually';
import { $, type TestApp } from '../support/app';
import { twoServers } from '../support/twoServers';
import { unique } from '../support/factories';
import type { GatehouseApp } from '../../src/app';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as roleService from '../../src/roles/service';
import * as userService from '../../src/users/service';

/**
 * The console reads the signed-in user (account, role, permissions) from the server's decision state, not
 * from a query per request (src/http/auth.ts). A change is in force at once on the server that made it and
 * on another server sharing the database within the follower's poll interval.
 */
let a: TestApp;
let b: GatehouseApp;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ a, b, close } = await twoServers('sessions'));
  await a.makeUser({ username: 'root', role: 'superuser' });
});

afterAll(async () => close?.());

/** Signs in through A and returns the session cookie, which either server accepts. */
async function signInCookie(username: string): Promise<string> {
  const agent = await a.signIn(username);
  const cookies = agent.jar.getCookies({ domain: '127.0.0.1', path: '/', secure: false, script: false });
  return cookies.map((c) => `${c.name}=${c.value}`).join('; ');
}

const onA = (url: string, cookie: string) => request(a.server).get(url).set('Cookie', cookie);
const onB = (url: string, cookie: string) => request(b.app.callback()).get(url).set('Cookie', cookie);

describe('the signed-in user from the decision state', () => {
  it('a user holding a copy of a role signs in and uses the console, on either server', async () => {
    // A copy and nothing else: no later change to the role names it to the servers.
    const copy = await roleService.cloneRole(a.db, SYSTEM_ACTOR, await a.make.roleId('administrator'), { name: unique('Admin copy') });
    const username = unique('copy.holder');
    await a.makeUser({ username, role: copy.name });
    const cookie = await signInCookie(username);
    expect((await onA('/users', cookie)).status).toBe(200);
    expect((await eventually(() => onB('/users', cookie), (r) => r.status === 200)).status).toBe(200);
  });

  it('a deactivated user is refused at once on the same server, and soon after on another', async () => {
    const username = unique('leaver');
    const id = await a.makeUser({ username, role: 'administrator' });
    const cookie = await signInCookie(username);
    expect((await onA('/users', cookie)).status).toBe(200);
    expect((await eventually(() => onB('/users', cookie), (r) => r.status === 200)).status).toBe(200);
    await userService.setStatus(a.db, SYSTEM_ACTOR, id, 'deactivated');
    const sameServer = await onA('/users', cookie);
    expect(sameServer.status).toBe(303);
    expect(sameServer.headers.location).toMatch(/^\/login/);
    const other = await eventually(
      () => onB('/users', cookie),
      (r) => r.status === 303,
      1000,
    );
    expect(other.status).toBe(303);
  });

  it('a role losing a permission loses the page at once on the same server, and soon after on another', async () => {
    const role = await roleService.cloneRole(a.db, SYSTEM_ACTOR, await a.make.roleId('administrator'), { name: unique('Managers') });
    await roleService.replacePermissions(a.db, SYSTEM_ACTOR, role.id, ['users.manage']);
    const username = unique('manager');
    await a.makeUser({ username, role: role.name });
    const cookie = await signInCookie(username);
    expect((await onA('/users', cookie)).status).toBe(200);
    expect((await eventually(() => onB('/users', cookie), (r) => r.status === 200)).status).toBe(200);
    await roleService.replacePermissions(a.db, SYSTEM_ACTOR, role.id, []);
    expect((await onA('/users', cookie)).status).toBe(403);
    expect((await eventually(() => onB('/users', cookie), (r) => r.status === 403, 1000)).status).toBe(403);
  });

  it('the users list offers a new or renamed role among its filters at once, and soon after on another server', async () => {
    const cookie = await signInCookie('root');
    const roleOptions = (html: string) =>
      $(html)('select[name=role] option[value!=""]')
        .map((_, el) => $(html)(el).text())
        .get();
    const name = unique('Auditors');
    const role = await roleService.cloneRole(a.db, SYSTEM_ACTOR, await a.make.roleId('viewer'), { name });
    expect(roleOptions((await onA('/users', cookie)).text)).toContain(name);
    expect(roleOptions((await eventually(() => onB('/users', cookie), (r) => roleOptions(r.text).includes(name))).text)).toContain(name);
    const renamed = unique('Reviewers');
    await roleService.updateRole(a.db, SYSTEM_ACTOR, role.id, { name: renamed, description: '' });
    const options = roleOptions((await onA('/users', cookie)).text);
    expect(options).toContain(renamed);
    expect(options).not.toContain(name);
    expect(options).toEqual([...options].sort((x, y) => (x.toLowerCase() < y.toLowerCase() ? -1 : 1)));
  });

  it("a search's count follows user changes: at once on the same server, soon after on another", async () => {
    const cookie = await signInCookie('root');
    const word = unique('counted').toLowerCase();
    const matching = (html: string) => /([0-9,]+) users? match/.exec($(html)('#user-results').text())?.[1];
    const search = `/users?q=${encodeURIComponent(word)}`;
    for (let i = 0; i < 3; i++) await a.makeUser({ username: `${word}.${i}` });
    expect(matching((await onA(search, cookie)).text)).toBe('3');
    expect(matching((await eventually(() => onB(search, cookie), (r) => matching(r.text) === '3')).text)).toBe('3');
    const fourth = await a.makeUser({ username: `x${word}`, firstName: word });
    expect(matching((await onA(search, cookie)).text)).toBe('4');
    expect(matching((await eventually(() => onB(search, cookie), (r) => matching(r.text) === '4', 1000)).text)).toBe('4');
    const row = await a.db('users').where({ id: fourth }).first();
    await userService.updateUser(a.db, SYSTEM_ACTOR, fourth, { firstName: 'Someone', lastName: row.last_name, email: row.email, roleId: row.role_id, licenseTypeId: row.license_type_id }, a.config.scryptN);
    expect(matching((await onA(search, cookie)).text)).toBe('3');
    expect(matching((await eventually(() => onB(search, cookie), (r) => matching(r.text) === '3', 1000)).text)).toBe('3');
  });
});
