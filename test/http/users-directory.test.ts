import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $, type Agent, type TestApp } from '../support/app';
import { eventually } from '../support/eventually';
import { unique } from '../support/factories';
import { userEditForm } from '../support/forms';
import { twoServers } from '../support/twoServers';
import type { GatehouseApp } from '../../src/app';
import * as repo from '../../src/users/repo';

/**
 * The users list's default view (by username; unfiltered or one word) comes from each server's memory
 * (src/access/directory.ts, src/users/presence.ts): it must be the page the database gives, and show what
 * changed — at once for changes made through the same server, within the stated bound for another's.
 */
let a: TestApp;
let b: GatehouseApp;
let close: () => Promise<void>;
let admin: Agent;

beforeAll(async () => {
  ({ a, b, close } = await twoServers('directory'));
  await a.makeUser({ username: 'dir.admin', role: 'superuser' });
  admin = await a.signIn('dir.admin');
});
afterAll(async () => close?.());

/** The ids of the list's rows, in order, and its count line. */
async function listed(agent: Agent, query: Record<string, string>) {
  const page = $((await agent.get('/users').query(query)).text);
  return {
    ids: page('#user-results tbody td.user-cell a').map((_, el) => Number(page(el).attr('href')!.split('/').pop())).get(),
    count: page('#user-results .result-count').text().replace(/\s+/g, ' ').trim(),
  };
}

const rowOf = (text: string, username: string) => {
  const page = $(text);
  return page('#user-results tbody tr').filter((_, tr) => page(tr).find('td.user-cell a').text() === username);
};

describe('the users list from memory', () => {
  it('pages and searches as the database does: accents, case, shared prefixes, letters beyond U+FFFF', async () => {
    const tag = unique('dq').replace(/[^a-z0-9]/g, '');
    const names: Array<[string, string, string]> = [
      ['anna', 'Anna', 'Berg'], ['annika', 'Annika', 'Ström'], ['ann-marie', 'Ann', 'Marie'], ['anders', 'Anders', 'Annberg'],
      ['éva', 'Éva', 'Kovács'], ['eva', 'Eva', 'Lind'], ['ève', 'Ève', 'Durand'], ['zoë', 'Zoë', 'Adams'],
      ['ﬀion', 'Ffion', 'Jones'], ['𝒜lex', 'Alex', 'Script'], ['bob', 'Bob', 'Annersson'], ['ANNE.caps', 'Anne', 'Caps'],
    ];
    for (const [u, first, last] of names) await a.makeUser({ username: `${u}.${tag}`, firstName: first, lastName: last });
    for (const q of ['', 'ann', 'an', 'ANN', 'é', 'e', 'ève', 'zo', 'ﬀ', '𝒜', 'annberg', `zoë.${tag}@`, 'nobody-called-this']) {
      for (const dir of ['asc', 'desc'] as const) {
        for (const [size, page] of [[25, 1], [25, 2]] as const) {
          const shown = await listed(admin, { q, dir, size: String(size), page: String(page) });
          const fromDatabase = await repo.list(a.db, { q }, 'username', dir, size, (page - 1) * size, Date.now(), undefined, { boundedCount: true });
          expect(shown.ids, `q=${q} ${dir} page ${page}`).toEqual(fromDatabase.rows.map((r) => r.id));
        }
      }
    }
    // The count is exact, also for the whole directory (the database's statistics only estimate it).
    const all = await listed(admin, {});
    expect(all.count).toBe(`${Number((await a.db('users').count({ n: '*' }).first())!.n).toLocaleString('en-US')} users`);
  });

  it('shows a change made through the same server at once: a new name is found by it, no longer by the old one', async () => {
    const username = unique('renamed');
    const id = await a.makeUser({ username, firstName: 'Oldname' });
    expect((await listed(admin, { q: 'oldname' })).ids).toContain(id);
    expect((await admin.post(`/users/${id}`).type('form').send(await userEditForm(admin, id, { firstName: 'Quenby' }))).status).toBe(303);
    expect((await listed(admin, { q: 'quenby' })).ids).toContain(id);
    expect((await listed(admin, { q: 'oldname' })).ids).not.toContain(id);
  });

  it('shows signing in, ending sessions, a pause by failed sign-ins and its lifting at once on the server that made them', async () => {
    const username = unique('present');
    const id = await a.makeUser({ username });
    const row = async () => rowOf((await admin.get('/users').query({ q: username })).text, username);

    expect((await row()).find('.badge-online').length).toBe(0);
    expect((await row()).find('td').last().text()).toBe('never');
    await a.signIn(username);
    expect((await row()).find('.badge-online').text()).toBe('Online');
    expect((await row()).find('td').last().text()).toBe('just now');

    expect((await admin.post(`/users/${id}/end-sessions`).type('form').send({ _csrf: admin.csrf })).status).toBe(303);
    expect((await row()).find('.badge-online').length).toBe(0);

    const attacker = await a.anonymous();
    for (let i = 0; i < 7; i++) await attacker.post('/login').type('form').send({ _csrf: attacker.csrf, username, password: `wrong-guess-${i}-xxxx` });
    expect((await row()).find('.badge-warn').text()).toBe('Locked');
    expect((await admin.post(`/users/${id}/unlock`).type('form').send({ _csrf: admin.csrf })).status).toBe(303);
    expect((await row()).find('.badge-warn').length).toBe(0);
  });

  it('another server shows a change within its bound (the change log for accounts, a second for sign-ins and sessions)', async () => {
    const username = unique('elsewhere');
    const cookie = admin.jar
      .getCookies({ domain: '127.0.0.1', path: '/', secure: false, script: false })
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
    const onB = () => request(b.app.callback()).get('/users').query({ q: username }).set('Cookie', cookie);
    expect(rowOf((await onB()).text, username).length).toBe(0);
    await a.makeUser({ username });
    const started = Date.now();
    const found = await eventually(onB, (r) => rowOf(r.text, username).length === 1);
    expect(rowOf(found.text, username).length).toBe(1);
    await a.signIn(username);
    const online = await eventually(onB, (r) => rowOf(r.text, username).find('.badge-online').length === 1);
    expect(rowOf(online.text, username).find('.badge-online').text()).toBe('Online');
    // Well within the stated bound (20 ms for the log, 1 s for presence), with room for a loaded machine.
    expect(Date.now() - started).toBeLessThan(4000);
  });
});
