import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually';
import { $, createTestApp, type Agent, type TestApp } from '../support/app';
import { twoServers } from '../support/twoServers';
import { unique } from '../support/factories';
import { createApp, type GatehouseApp } from '../../src/app';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import { decisionState } from '../../src/changes/follower';
import { databaseStore } from '../../src/http/session';
import type Koa from 'koa';
import * as roleRepo from '../../src/roles/repo';
import * as roleService from '../../src/roles/service';
import * as userService from '../../src/users/service';

/**
 * The console reads the signed-in user (account, role, permissions) from the server's decision state, not
 * from a query per request (src/http/auth.ts). A change is in force at once on the server that made it and
 * on another server sharing the database within the follower's poll interval.
 */
let a: TestApp;
let b: GatehouseApp;
let bDb: TestApp['db'];
let close: () => Promise<void>;

beforeAll(async () => {
  ({ a, b, bDb, close } = await twoServers('sessions'));
  await a.makeUser({ username: 'root', role: 'superuser' });
});

afterAll(async () => close?.());

/** The cookies a client holds, as `name=value` pairs. */
function cookiePairs(agent: Agent): string[] {
  return agent.jar.getCookies({ domain: '127.0.0.1', path: '/', secure: false, script: false }).map((c) => `${c.name}=${c.value}`);
}

/** A client's cookies as one Cookie header, which either server accepts. */
const cookieHeader = (agent: Agent) => cookiePairs(agent).join('; ');

/** Signs in through A and returns the session cookie. */
async function signInCookie(username: string): Promise<string> {
  return cookieHeader(await a.signIn(username));
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

  it('a server whose state has not yet heard of a change asks the database before ending a session', async () => {
    // As a server sees a role made a moment ago on another server, before its follower applied the change:
    // the rows say the user holds it, the state has not heard of the role. The next page must not end the
    // session on the state's word alone (it did, so signing in on A and landing on B signed the user out).
    const username = unique('promoted');
    const id = await a.makeUser({ username, role: 'administrator' });
    await decisionState(a.db); // loaded before the role is made
    const unheard = await roleRepo.insert(a.db, { name: unique('Unheard'), description: '', templateRoleId: await a.make.roleId('administrator'), licenseTypeId: await a.make.licenseId('process_modeler') });
    await roleRepo.grant(a.db, unheard, ['users.manage']);
    await a.make.writeUserRow(username, { role_id: unheard }); // the account's change is heard, the role's is not
    const cookie = await signInCookie(username);
    expect((await onA('/users', cookie)).status).toBe(200);
    expect((await onA('/users', cookie)).status).toBe(200);
    expect(await a.db('sessions').where({ user_id: id }).count({ n: '*' }).first()).toMatchObject({ n: 1 });
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

/**
 * Each server keeps a copy of the signed-in sessions it has seen (src/sessions/cache.ts): a page view whose
 * browser shows the copy's version reads no session row, an end of sessions reaches the copies through the
 * change log, and a save based on a copy never writes over a newer row.
 */
describe('console sessions answered from each server’s copy', () => {
  /** The SQL reading or writing one session's row (by its id) that `work` sends through `db` (a page listing sessions reads others). */
  async function sessionQueries(db: TestApp['db'], work: () => Promise<unknown>): Promise<string[]> {
    const seen: string[] = [];
    const listen = (q: { sql: string }) => {
      if (/`sessions`.* where `id` = \?/i.test(q.sql)) seen.push(q.sql);
    };
    db.on('query', listen);
    try {
      await work();
    } finally {
      db.off('query', listen);
    }
    return seen;
  }

  /** The cookies a browser holds after these answers (later Set-Cookie headers replace earlier ones). */
  function jar(): { header(): string; take(res: { headers: Record<string, unknown> }): void } {
    const cookies = new Map<string, string>();
    return {
      header: () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; '),
      take(res) {
        for (const line of (res.headers['set-cookie'] as string[] | undefined) ?? []) {
          const [pair] = line.split(';');
          const at = pair.indexOf('=');
          cookies.set(pair.slice(0, at), pair.slice(at + 1));
        }
      },
    };
  }

  it('a page view reads no session row when the browser shows the version its server holds; a form post always does', async () => {
    const username = unique('reader');
    await a.makeUser({ username, role: 'administrator' });
    const agent = await a.signIn(username);
    await agent.get('/account').expect(200);
    expect(await sessionQueries(a.db, () => agent.get('/account').expect(200))).toEqual([]);
    expect(await sessionQueries(a.db, () => agent.get('/users').expect(200))).toEqual([]);
    const posted = await sessionQueries(a.db, () => agent.post('/account/sessions/end-others').type('form').send({ _csrf: agent.csrf }).expect(303));
    expect(posted.some((sql) => /^select/i.test(sql))).toBe(true);
  });

  it('an ended session is refused at once on its server and soon after on another that held a copy', async () => {
    const username = unique('ended');
    const id = await a.makeUser({ username, role: 'administrator' });
    const cookie = await signInCookie(username);
    for (let i = 0; i < 2; i++) expect((await onA('/account', cookie)).status).toBe(200);
    expect((await eventually(() => onB('/account', cookie), (r) => r.status === 200)).status).toBe(200);
    expect(await sessionQueries(bDb, async () => expect((await onB('/account', cookie)).status).toBe(200))).toEqual([]);
    await userService.endSessions(a.db, SYSTEM_ACTOR, id);
    expect((await onA('/account', cookie)).status).toBe(303);
    expect((await eventually(() => onB('/account', cookie), (r) => r.status === 303, 1000)).status).toBe(303);
  });

  it('signing out on one server ends the session on the other, which held a copy', async () => {
    const username = unique('leaving');
    await a.makeUser({ username, role: 'administrator' });
    const agent = await a.signIn(username);
    const cookie = cookieHeader(agent);
    expect((await eventually(() => onB('/account', cookie), (r) => r.status === 200)).status).toBe(200);
    expect((await onB('/account', cookie)).status).toBe(200);
    await agent.post('/logout').type('form').send({ _csrf: agent.csrf }).expect(303);
    expect((await eventually(() => onB('/account', cookie), (r) => r.status === 303, 1000)).status).toBe(303);
  });

  it('an app closed and made again over the same database handle still drops the copies of ended sessions', async () => {
    const t = await createTestApp();
    let again: GatehouseApp | undefined;
    try {
      await t.makeUser({ username: 'again', role: 'administrator' });
      const agent = await t.signIn('again');
      await agent.get('/account').expect(200);
      const cookie = cookieHeader(agent);
      // The app closed (its change-log follower stopped) and made again over the same handle.
      await t.gate.close();
      again = await createApp(t.config, { db: t.db });
      const onAgain = () => request(again!.app.callback()).get('/account').set('Cookie', cookie);
      await decisionState(t.db);
      expect((await onAgain()).status).toBe(200);
      await userService.endSessions(t.db, SYSTEM_ACTOR, await t.make.userId('again'));
      await decisionState(t.db); // the end applied by the new follower
      expect((await onAgain()).status).toBe(303);
    } finally {
      await again?.close();
      await t.close().catch(() => undefined);
    }
  });

  it('what a form post on one server saves shows on the next page on the other at once', async () => {
    const username = unique('mover');
    await a.makeUser({ username, role: 'administrator' });
    const browser = jar();
    const agent = await a.signIn(username);
    browser.take({ headers: { 'set-cookie': cookiePairs(agent) } });
    // B holds a copy of the session as it was.
    browser.take(await onB('/account', browser.header()).expect(200));
    browser.take(await onB('/account', browser.header()).expect(200));
    const posted = await request(a.server).post('/account/sessions/end-others').set('Cookie', browser.header()).type('form').send({ _csrf: agent.csrf }).expect(303);
    browser.take(posted);
    const next = await onB('/account', browser.header()).expect(200);
    expect($(next.text)('.flash, [role=status], [role=alert]').text()).toMatch(/session/i);
  });

  it('a save after the session was ended does not bring it back', async () => {
    const username = unique('ended.midway');
    const id = await a.makeUser({ username, role: 'administrator' });
    const agent = await a.signIn(username);
    const row = await a.db('sessions').where({ user_id: id }).first('id', 'version');
    // A form post reads the session, an administrator ends it meanwhile, then the post saves what it changed.
    const store = databaseStore(a.db, a.config.sessionMaxAgeMs, a.config.sessionAbsoluteMs);
    const ctx = { method: 'POST', state: {}, ip: '127.0.0.1', secure: false, services: { config: a.config }, get: () => '', cookies: { get: () => undefined, set: () => undefined } } as unknown as Koa.Context;
    const read = (await store.get(row.id, 0, { ctx }))!;
    await userService.endSessions(a.db, SYSTEM_ACTOR, id);
    await store.set(row.id, { ...read, flash: [{ type: 'success', text: 'Saved.' }] }, 0, { ctx });
    expect(await a.db('sessions').where({ id: row.id }).first()).toBeUndefined();
    expect((await agent.get('/account')).status).toBe(303);
  });

  it('two page views answered from one copy save once: the later save is refused, not written over the first', async () => {
    const username = unique('racer');
    await a.makeUser({ username, role: 'superuser' });
    await a.token(username);
    const agent = await a.signIn(username);
    const tokenId = (await a.db('api_tokens').where({ user_id: await a.make.userId(username) }).first('id')).id;
    // A message waiting to be shown; the save keeps the server's copy of the session.
    await agent.post(`/account/tokens/${tokenId}/revoke`).type('form').send({ _csrf: agent.csrf }).expect(303);
    await decisionState(a.db); // caught up with its own writes: the server uses its copies again
    const row = await a.db('sessions').where({ user_id: await a.make.userId(username) }).first('id', 'version');
    // Two page views of the same browser, interleaved as under load: both read the copy, then both save.
    const store = databaseStore(a.db, a.config.sessionMaxAgeMs, a.config.sessionAbsoluteMs);
    const page = () => {
      const state: Record<string, unknown> = {};
      const ctx = { method: 'GET', state, ip: '127.0.0.1', secure: false, services: { config: a.config }, get: () => '', cookies: { get: (name: string) => (name === 'gh_sv' ? String(row.version) : undefined), set: () => undefined } };
      return { ctx: ctx as unknown as Koa.Context, state };
    };
    const [first, second] = [page(), page()];
    const seen = await sessionQueries(a.db, async () => {
      const one = (await store.get(row.id, 0, { ctx: first.ctx }))!;
      const two = (await store.get(row.id, 0, { ctx: second.ctx }))!;
      expect(one.flash).toEqual([{ type: 'success', text: 'The token is revoked.' }]);
      expect(two.flash).toEqual(one.flash);
      await store.set(row.id, { ...one, flash: [] }, 0, { ctx: first.ctx });
      await store.set(row.id, { ...two, flash: [], note: 'stale' }, 0, { ctx: second.ctx });
    });
    expect(seen.filter((sql) => /^select/i.test(sql))).toEqual([]);
    const after = await a.db('sessions').where({ id: row.id }).first('version', 'data');
    expect(Number(after.version)).toBe(Number(row.version) + 1);
    expect(JSON.parse(after.data)).toMatchObject({ flash: [] });
    expect(JSON.parse(after.data).note).toBeUndefined();
  });
});
