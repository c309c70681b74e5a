import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { $, createTestApp, eachTestStartsFromSetUp, type Agent, type TestApp } from '../support/app';
import { headPosition } from '../../src/changes/service';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as groupService from '../../src/groups/service';

/** The Groups console: list, create, the Members tab (dual list, + Add member), removal and relations. */
let t: TestApp;
let admin: Agent;

const userId = (username: string) => t.make.userId(username);

async function groupByName(name: string) {
  return t.db('groups').where({ name_lower: name.toLowerCase() }).first();
}

async function createGroup(name: string, description = ''): Promise<number> {
  const res = await admin.post('/groups').type('form').send({ _csrf: admin.csrf, name, description });
  expect(res.status, res.text).toBe(303);
  return Number((await groupByName(name)).id);
}

async function memberNames(groupId: number): Promise<string[]> {
  const rows = await t.db('users').join('group_members', 'group_members.user_id', 'users.id').where('group_members.group_id', groupId).orderBy('users.username_lower').select('users.username');
  return rows.map((r: { username: string }) => r.username);
}

const addDirect = (groupId: number, usernames: string[]) => t.make.addMembers(groupId, usernames);

async function countRows(table: string, where: Record<string, unknown> = {}): Promise<number> {
  return Number(((await t.db(table).where(where).count({ n: '*' }).first()) as { n: number | string } | undefined)?.n ?? 0);
}

const groupCount = () => countRows('groups');

/** The hidden fields of the group form as the page rendered them (what a browser would post back). */
async function formOf(agent: Agent, groupId: number, overrides: Record<string, string> = {}) {
  const doc = $((await agent.get(`/groups/${groupId}`)).text);
  const val = (name: string) => String(doc(`form.group-form [name=${name}]`).val() ?? '');
  return {
    _csrf: agent.csrf,
    version: val('version'),
    baseName: val('baseName'),
    baseDescription: val('baseDescription'),
    name: val('name'),
    description: String(doc('#f-description').text()),
    members_add: '',
    members_remove: '',
    ...overrides,
  };
}

const bulkUsers = (prefix: string, n: number) => t.make.bulkUsers(prefix, n);

const hx = (target: string) => ({ 'HX-Request': 'true', 'HX-Target': target });

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'admin', role: 'superuser' });
  await t.makeUser({ username: 'admin2', role: 'administrator' });
  await t.makeUser({ username: 'viewer', role: 'viewer' });
  for (const [u, f, l] of [
    ['anna.berg', 'Anna', 'Berg'],
    ['annika.lund', 'Annika', 'Lund'],
    ['bob.stone', 'Bob', 'Stone'],
    ['carla.diaz', 'Carla', 'Diaz'],
    ['dave_x', 'Dave', 'Under'],
  ]) {
    await t.makeUser({ username: u, firstName: f, lastName: l });
  }
  admin = await t.signIn('admin');
});
afterAll(async () => t?.close());
eachTestStartsFromSetUp(() => t);

describe('groups list and create', () => {
  it('starts empty and explains how to begin', async () => {
    const res = await admin.get('/groups');
    expect(res.status).toBe(200);
    const doc = $(res.text);
    expect(doc('h1').text()).toBe('Groups');
    expect(doc('#group-results .empty').text()).toContain('no groups yet');
  });

  it('creates a group and opens its page, with one audit event', async () => {
    const res = await admin.post('/groups').type('form').send({ _csrf: admin.csrf, name: '  Sales   EMEA ', description: 'Sales team' });
    expect(res.status).toBe(303);
    const g = await groupByName('Sales EMEA');
    expect(g.name).toBe('Sales EMEA');
    expect(g.description).toBe('Sales team');
    expect(res.headers.location).toBe(`/groups/${g.id}`);
    const page = await admin.get(res.headers.location);
    expect($(page.text)('.flash-success').text()).toContain('Group Sales EMEA created');
    const event = await t.db('audit_events').where({ action: 'group.create', object_id: String(g.id) }).first();
    expect(JSON.parse(event.after_json)).toEqual({ name: 'Sales EMEA', description: 'Sales team' });
  });

  it('refuses bad names with a message beside the field and writes nothing', async () => {
    await createGroup('Finance');
    const cases: Array<[string, RegExp]> = [
      ['', /Name is required/],
      ['   ', /Name is required/],
      ['x'.repeat(101), /at most 100 characters/],
      ['<script>alert(1)</script>', /may contain letters, digits/],
      ["x'; DROP TABLE groups; --", /may contain letters, digits/],
      ['finance', /already exists/],
      ['FINANCE', /already exists/],
      ['bell\u0007', /may contain letters, digits/],
      ['null\u0000byte', /may contain letters, digits/],
      ['-leading', /must start with a letter or digit/],
    ];
    const before = await groupCount();
    for (const [name, message] of cases) {
      const res = await admin.post('/groups').type('form').send({ _csrf: admin.csrf, name, description: 'x' });
      expect(res.status, name).toBe(422);
      const doc = $(res.text);
      expect(doc('#f-name').attr('aria-invalid'), name).toBe('true');
      expect(doc('#e-name').text(), name).toMatch(message);
      // The form opens again with the input kept.
      expect(doc('details.create-group').attr('open')).toBeDefined();
    }
    expect(await groupCount()).toBe(before);
  });

  it('refuses a description that is too long or holds control characters', async () => {
    const before = await groupCount();
    let res = await admin.post('/groups').type('form').send({ _csrf: admin.csrf, name: 'Long one', description: 'd'.repeat(501) });
    expect(res.status).toBe(422);
    expect($(res.text)('#e-description').text()).toContain('at most 500 characters');
    res = await admin.post('/groups').type('form').send({ _csrf: admin.csrf, name: 'Bell', description: 'ring\u0007' });
    expect(res.status).toBe(422);
    expect($(res.text)('#e-description').text()).toContain('control characters');
    expect(await groupCount()).toBe(before);
  });

  it('accepts unicode names and keeps markup in descriptions as text', async () => {
    const id = await createGroup('Équipe Qualité 品質', '<script>alert("x")</script> & friends');
    const page = await admin.get(`/groups/${id}`);
    expect(page.text).not.toContain('<script>alert("x")</script>');
    expect(page.text).toContain('&lt;script&gt;');
    expect($(page.text)('h1').text()).toContain('Équipe Qualité 品質');
    const list = await admin.get('/groups?q=%C3%A9quipe');
    expect($(list.text)('#group-results tbody tr').length).toBe(1);
  });

  it('searches by the start of the name, literally, with member counts', async () => {
    const id = await createGroup('Ops_North');
    await createGroup('OpsXNorth');
    await addDirect(id, ['anna.berg', 'bob.stone']);
    const res = await admin.get('/groups?q=ops_');
    const rows = $(res.text)('#group-results tbody tr');
    expect(rows.length).toBe(1);
    expect(rows.find('td').first().text()).toBe('Ops_North');
    expect(rows.find('td.num').text()).toBe('2');
    const pct = await admin.get('/groups?q=%25');
    expect($(pct.text)('#group-results tbody tr').length).toBe(0);
    // An htmx search answers with the results only.
    const frag = await admin.get('/groups?q=ops').set(hx('section#group-results'));
    expect(frag.text).not.toContain('<html');
    expect($(frag.text)('#group-results tbody tr').length).toBe(2);
  });

  it('pages through many groups and treats nonsense paging as page 1', async () => {
    for (let i = 0; i < 60; i++) await t.make.makeGroup(`Paged ${String(i).padStart(2, '0')}`);
    const p1 = $((await admin.get('/groups?q=paged')).text);
    expect(p1('#group-results tbody tr').length).toBe(50);
    expect(p1('.pagination .page-status').text()).toBe('Page 1 of 2');
    const p2 = $((await admin.get('/groups?q=paged&page=2')).text);
    expect(p2('#group-results tbody tr').length).toBe(10);
    expect(p2('#group-results tbody tr td a').first().text()).toBe('Paged 50');
    const beyond = $((await admin.get('/groups?q=paged&page=99')).text);
    expect(beyond('.pagination .page-status').text()).toBe('Page 2 of 2');
    for (const bad of ['page=-1', 'page=abc', `q=${'x'.repeat(300)}`, "page=1'--"]) {
      const res = await admin.get(`/groups?${bad}`);
      expect(res.status, bad).toBe(200);
    }
  });

  it('is refused to users without "manage users, groups and roles"', async () => {
    const viewer = await t.signIn('viewer');
    expect((await viewer.get('/groups')).status).toBe(403);
    expect((await viewer.post('/groups').type('form').send({ _csrf: viewer.csrf, name: 'Sneaky' })).status).toBe(403);
    expect(await groupByName('Sneaky')).toBeUndefined();
  });
});

describe('the Members tab', () => {
  let gid: number;
  beforeEach(async () => {
    gid = await createGroup('Members test', 'For the dual list');
    await addDirect(gid, ['carla.diaz']);
  });

  it('shows the dual list with both titles, the tabs and the add-member type-ahead', async () => {
    const res = await admin.get(`/groups/${gid}`);
    expect(res.status).toBe(200);
    const doc = $(res.text);
    expect(doc('#dl-members-ltitle').text()).toBe('Users not in the group');
    expect(doc('#dl-members-rtitle').text()).toBe('Assigned users');
    expect(doc('#dl-members-rbody .dl-label').map((_, e) => doc(e).text()).get()).toEqual(['carla.diaz']);
    expect(doc('#dl-members-lbody .dl-label').map((_, e) => doc(e).text()).get()).not.toContain('carla.diaz');
    expect(doc('nav.tabs a').map((_, e) => doc(e).attr('href')).get()).toEqual([`/groups/${gid}`, `/groups/${gid}/permissions`, `/groups/${gid}/relations`]);
    expect(doc('nav.tabs a[aria-current=page]').text()).toBe('Members');
    expect(doc('#member-count').text()).toBe('1 member');
    expect(doc('#add-member-q').attr('hx-get')).toBe(`/groups/${gid}/candidates`);
  });

  it('answers 404 for unknown or malformed group ids', async () => {
    for (const id of ['999999', 'abc', '0', '-1', '1e3', '99999999999']) {
      expect((await admin.get(`/groups/${id}`)).status, id).toBe(404);
    }
  });

  it('moves with > and < without JavaScript: pending and visible, nothing saved yet', async () => {
    const anna = await userId('anna.berg');
    const carla = await userId('carla.diaz');
    const form = await formOf(admin, gid);
    let res = await admin.post(`/groups/${gid}`).type('form').send({ ...form, op: 'members:add', members_lsel: String(anna) });
    expect(res.status).toBe(200);
    let doc = $(res.text);
    expect(doc('input[name=members_add]').val()).toBe(String(anna));
    expect(doc('#dl-members').attr('data-dirty')).toBe('true');
    expect(doc('.pending-summary').text()).toMatch(/1 user to add, 0 users to remove/);
    expect(doc('#dl-members-rbody li.pending .dl-label').text()).toBe('anna.berg');
    expect(doc('#dl-members-rbody li.pending .badge-pending').text()).toBe('will be added');
    res = await admin.post(`/groups/${gid}`).type('form').send({ ...form, op: 'members:remove', members_add: String(anna), members_rsel: String(carla) });
    doc = $(res.text);
    expect(doc('input[name=members_remove]').val()).toBe(String(carla));
    expect(doc('#dl-members-lbody li.pending .dl-label').text()).toBe('carla.diaz');
    expect(doc('#dl-members-lbody li.pending .badge-pending').text()).toBe('will be removed');
    expect(await memberNames(gid)).toEqual(['carla.diaz']);
  });

  it('counts each side exactly with pending moves, even stale or repeated ones', async () => {
    const g = await createGroup('Counting');
    await addDirect(g, ['anna.berg', 'bob.stone']);
    const total = await countRows('users');
    const count = async (fields: Record<string, string>) => {
      const doc = $((await admin.post(`/groups/${g}`).type('form').send({ ...(await formOf(admin, g)), op: 'members:search', ...fields })).text);
      return [doc('#dl-members-lbody .dl-count').text(), doc('#dl-members-rbody .dl-count').text()];
    };
    const users = (n: number) => `${n} user${n === 1 ? '' : 's'}`;
    expect(await count({})).toEqual([users(total - 2), users(2)]);
    const carla = String(await userId('carla.diaz'));
    const anna = String(await userId('anna.berg'));
    expect(await count({ members_add: carla, members_remove: anna })).toEqual([users(total - 2), users(2)]);
    expect(await count({ members_add: carla })).toEqual([users(total - 3), users(3)]);
    // Adding someone already in, removing someone already out, or a user who does not exist changes nothing.
    expect(await count({ members_add: `${anna},999999`, members_remove: String(await userId('annika.lund')) })).toEqual([users(total - 2), users(2)]);
    // With a search, the counts are of the matches.
    expect(await count({ members_add: carla, members_lq: 'ann', members_rq: 'carla' })).toEqual(['1 user matching', '1 user matching']);
  });

  it('answers an htmx move with the component only', async () => {
    const form = await formOf(admin, gid);
    const res = await admin.post(`/groups/${gid}`).set(hx('fieldset#dl-members')).type('form').send({ ...form, op: 'members:add', members_lsel: String(await userId('bob.stone')) });
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('<html');
    expect(res.text.trim().startsWith('<fieldset id="dl-members"')).toBe(true);
    expect($(res.text)('#dl-members-rbody li.pending .dl-label').text()).toBe('bob.stone');
  });

  it('searches both sides in the database', async () => {
    const form = await formOf(admin, gid);
    let doc = $((await admin.post(`/groups/${gid}`).type('form').send({ ...form, op: 'members:search', members_lq: 'ann', members_rq: 'zzz' })).text);
    expect(doc('#dl-members-lbody .dl-label').map((_, e) => doc(e).text()).get()).toEqual(['anna.berg', 'annika.lund']);
    expect(doc('#dl-members-rbody .empty').text()).toContain('No users match “zzz”');
    // A pending addition shows on the right and disappears from the left search.
    doc = $(
      (await admin.post(`/groups/${gid}`).type('form').send({ ...form, op: 'members:search', members_lq: 'ann', members_rq: 'ann', members_add: String(await userId('anna.berg')) })).text,
    );
    expect(doc('#dl-members-lbody .dl-label').map((_, e) => doc(e).text()).get()).toEqual(['annika.lund']);
    expect(doc('#dl-members-rbody .dl-label').map((_, e) => doc(e).text()).get()).toEqual(['anna.berg']);
    // Wildcards and markup are searched literally and shown as text.
    doc = $((await admin.post(`/groups/${gid}`).type('form').send({ ...form, op: 'members:search', members_lq: '%', members_rq: '<b>x</b>' })).text);
    expect(doc('#dl-members-lbody .dl-label').length).toBe(0);
    expect(doc('#dl-members-rbody .empty').text()).toContain('<b>x</b>');
    doc = $((await admin.post(`/groups/${gid}`).type('form').send({ ...form, op: 'members:search', members_lq: 'dave_', members_rq: 'dave_' })).text);
    expect(doc('#dl-members-lbody .dl-label').map((_, e) => doc(e).text()).get()).toEqual(['dave_x']);
    doc = $((await admin.post(`/groups/${gid}`).type('form').send({ ...form, op: 'members:search', members_lq: 'dav* [x? ann' })).text);
    expect(doc('#dl-members-lbody .dl-label').length).toBe(0);
    // Several words: each must start one of username, first name, last name or email.
    doc = $((await admin.post(`/groups/${gid}`).type('form').send({ ...form, op: 'members:search', members_lq: 'ANNIKA lu' })).text);
    expect(doc('#dl-members-lbody .dl-label').map((_, e) => doc(e).text()).get()).toEqual(['annika.lund']);
  });

  it('saves every pending move in one transaction with one audit event naming the users', async () => {
    const before = await groupByName('Members test');
    const since = Number((await t.db('audit_events').max({ id: 'id' }).first())?.id ?? 0);
    const anna = await userId('anna.berg');
    const bob = await userId('bob.stone');
    const carla = await userId('carla.diaz');
    const form = await formOf(admin, gid);
    const res = await admin.post(`/groups/${gid}`).type('form').send({ ...form, op: 'save', members_add: `${anna},${bob}`, members_remove: String(carla) });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/groups/${gid}`);
    expect(await memberNames(gid)).toEqual(['anna.berg', 'bob.stone']);
    const after = await groupByName('Members test');
    expect(Number(after.version)).toBeGreaterThan(Number(before.version));
    const events = await t.db('audit_events').where({ action: 'group.members', object_id: String(gid) }).andWhere('id', '>', since);
    expect(events.length).toBe(1);
    const payload = JSON.parse(events[0].after_json);
    expect(payload).toMatchObject({ added: ['anna.berg', 'bob.stone'], removed: ['carla.diaz'], addedCount: 2, removedCount: 1, memberCount: 2 });
    const page = $((await admin.get(`/groups/${gid}`)).text);
    expect(page('.flash-success').text()).toContain('Members of Members test saved: 2 users added, 1 user removed');
    expect(page('#dl-members').attr('data-dirty')).toBe('false');
  });

  it('says so when Save has nothing to do', async () => {
    const form = await formOf(admin, gid);
    const res = await admin.post(`/groups/${gid}`).type('form').send({ ...form, op: 'save' });
    expect(res.status).toBe(303);
    expect($((await admin.get(`/groups/${gid}`)).text)('.flash-info').text()).toContain('Nothing to save');
  });

  it('saves name and description with the members, and refuses a taken name beside the field keeping the moves', async () => {
    await t.make.makeGroup('Finance');
    const form = await formOf(admin, gid);
    const annika = await userId('annika.lund');
    let res = await admin.post(`/groups/${gid}`).type('form').send({ ...form, op: 'save', name: 'finance', members_add: String(annika) });
    expect(res.status).toBe(422);
    const doc = $(res.text);
    expect(doc('#e-name').text()).toContain('already exists');
    expect(doc('input[name=members_add]').val()).toBe(String(annika));
    expect(await memberNames(gid)).not.toContain('annika.lund');
    res = await admin.post(`/groups/${gid}`).type('form').send({ ...form, op: 'save', name: 'Members renamed', description: 'New text', members_add: String(annika) });
    expect(res.status).toBe(303);
    const g = await t.db('groups').where({ id: gid }).first();
    expect([g.name, g.description]).toEqual(['Members renamed', 'New text']);
    expect(await memberNames(gid)).toContain('annika.lund');
    expect(await t.db('audit_events').where({ action: 'group.update', object_id: String(gid) }).first()).toBeTruthy();
  });

  it('ignores hostile id lists and skips users who no longer exist', async () => {
    const form = await formOf(admin, gid);
    const bob = await userId('bob.stone');
    const res = await admin.post(`/groups/${gid}`).type('form').send({ ...form, op: 'save', members_add: `abc,-5,1e3,${bob},0,999999,${bob}); DROP TABLE users; --` });
    expect(res.status).toBe(303);
    expect(await memberNames(gid)).toContain('bob.stone');
    expect($((await admin.get(`/groups/${gid}`)).text)('.flash-success').text()).toContain('1 user no longer exists');
  });

  it('refuses more than 20,000 moves in one save with a message above the list, keeping nothing half-written', async () => {
    const form = await formOf(admin, gid);
    const before = await memberNames(gid);
    const tooMany = Array.from({ length: 20_001 }, (_, i) => i + 1).join(',');
    const res = await admin.post(`/groups/${gid}`).type('form').send({ ...form, op: 'save', name: 'Should not be saved', members_add: tooMany });
    expect(res.status).toBe(422);
    expect($(res.text)('form.group-form > .field-error').text()).toContain('at most 20000');
    expect(await memberNames(gid)).toEqual(before);
    expect((await t.db('groups').where({ id: gid }).first()).name).not.toBe('Should not be saved');
  });

  it('pages each side and clamps a page beyond the end', async () => {
    const ids = await bulkUsers('pager', 60);
    const g = await createGroup('Pager group');
    const form = await formOf(admin, g);
    let doc = $((await admin.post(`/groups/${g}`).type('form').send({ ...form, op: 'members:lpage:2', members_lq: 'pager' })).text);
    expect(doc('#dl-members-lbody .dl-pager span').text()).toBe('Page 2 of 3');
    expect(doc('#dl-members-lbody .dl-label').first().text()).toBe('pager00025');
    doc = $((await admin.post(`/groups/${g}`).type('form').send({ ...form, op: 'members:lpage:999', members_lq: 'pager' })).text);
    expect(doc('#dl-members-lbody .dl-pager span').text()).toBe('Page 3 of 3');
    // "Page >" moves the shown page; "All >>" everything matching.
    doc = $((await admin.post(`/groups/${g}`).type('form').send({ ...form, op: 'members:add_page', members_lq: 'pager', members_lids: ids.slice(0, 25).join(',') })).text);
    expect(doc('.pending-summary').text()).toMatch(/25 users to add/);
    doc = $((await admin.post(`/groups/${g}`).type('form').send({ ...form, op: 'members:add_all', members_lq: 'pager' })).text);
    expect(doc('.pending-summary').text()).toMatch(/60 users to add/);
  });

  it('saves thousands of moves at once (bulk statements on both databases)', async () => {
    const ids = await bulkUsers('bulk', 3000);
    const g = await createGroup('Bulk group');
    let form = await formOf(admin, g);
    let res = await admin.post(`/groups/${g}`).type('form').send({ ...form, op: 'save', members_add: ids.join(',') });
    expect(res.status).toBe(303);
    expect(await countRows('group_members', { group_id: g })).toBe(3000);
    let event = await t.db('audit_events').where({ action: 'group.members', object_id: String(g) }).orderBy('id', 'desc').first();
    expect(JSON.parse(event.after_json)).toMatchObject({ addedCount: 3000, removedCount: 0 });
    expect(JSON.parse(event.after_json).added.length).toBe(1000);
    form = await formOf(admin, g);
    res = await admin.post(`/groups/${g}`).type('form').send({ ...form, op: 'save', members_remove: ids.slice(0, 2500).join(','), members_add: String(await userId('anna.berg')) });
    expect(res.status).toBe(303);
    expect(await countRows('group_members', { group_id: g })).toBe(501);
    event = await t.db('audit_events').where({ action: 'group.members', object_id: String(g) }).orderBy('id', 'desc').first();
    expect(JSON.parse(event.after_json)).toMatchObject({ addedCount: 1, removedCount: 2500, added: ['anna.berg'] });
  });
});

describe('two administrators saving the same group', () => {
  it('merges membership moves made on a stale page: nobody loses a change, the second is told', async () => {
    const gid = await createGroup('Shared team');
    await addDirect(gid, ['carla.diaz']);
    const other = await t.signIn('admin2');
    const mine = await formOf(admin, gid);
    const theirs = await formOf(other, gid);
    expect(mine.version).toBe(theirs.version);
    // First: add anna. Second (same old version): add bob, remove carla.
    let res = await admin.post(`/groups/${gid}`).type('form').send({ ...mine, op: 'save', members_add: String(await userId('anna.berg')) });
    expect(res.status).toBe(303);
    res = await other.post(`/groups/${gid}`).type('form').send({ ...theirs, op: 'save', members_add: String(await userId('bob.stone')), members_remove: String(await userId('carla.diaz')) });
    expect(res.status).toBe(303);
    expect(await memberNames(gid)).toEqual(['anna.berg', 'bob.stone']);
    const msg = $((await other.get(`/groups/${gid}`)).text)('.flash-info').text();
    expect(msg).toContain('had changed meanwhile');
    expect(msg).toContain('merged');
    expect(msg).toContain('1 user added, 1 user removed');
    expect(msg).toContain('now has 2 members');
    const event = await t.db('audit_events').where({ action: 'group.members', object_id: String(gid), actor_username: 'admin2' }).first();
    expect(JSON.parse(event.after_json).mergedWithConcurrentChange).toBe(true);
  });

  it('counts moves the other administrator already made instead of repeating them', async () => {
    const gid = await createGroup('Same moves');
    const other = await t.signIn('admin2');
    const mine = await formOf(admin, gid);
    const theirs = await formOf(other, gid);
    const anna = String(await userId('anna.berg'));
    await admin.post(`/groups/${gid}`).type('form').send({ ...mine, op: 'save', members_add: anna });
    await other.post(`/groups/${gid}`).type('form').send({ ...theirs, op: 'save', members_add: anna });
    expect(await memberNames(gid)).toEqual(['anna.berg']);
    expect($((await other.get(`/groups/${gid}`)).text)('.flash-info').text()).toContain('1 of your additions was already a member');
    expect(await countRows('audit_events', { action: 'group.members', object_id: String(gid) })).toBe(1);
  });

  it('keeps the other administrator’s rename when I only changed the description', async () => {
    const gid = await createGroup('Rename race', 'old');
    const other = await t.signIn('admin2');
    const mine = await formOf(admin, gid);
    const theirs = await formOf(other, gid);
    expect((await other.post(`/groups/${gid}`).type('form').send({ ...theirs, op: 'save', name: 'Renamed by other' })).status).toBe(303);
    expect((await admin.post(`/groups/${gid}`).type('form').send({ ...mine, op: 'save', description: 'new description' })).status).toBe(303);
    const g = await t.db('groups').where({ id: gid }).first();
    expect([g.name, g.description]).toEqual(['Renamed by other', 'new description']);
  });

  it('refuses a clash in the same field with a clear message, keeps my input and moves, and applies them on a second Save', async () => {
    const gid = await createGroup('Clash', 'old');
    const other = await t.signIn('admin2');
    const mine = await formOf(admin, gid);
    const theirs = await formOf(other, gid);
    await other.post(`/groups/${gid}`).type('form').send({ ...theirs, op: 'save', name: 'Their name' });
    const anna = String(await userId('anna.berg'));
    const res = await admin.post(`/groups/${gid}`).type('form').send({ ...mine, op: 'save', name: 'My name', members_add: anna });
    expect(res.status).toBe(409);
    const doc = $(res.text);
    expect(doc('.flash-error').text()).toContain('changed by someone else');
    expect(doc('#e-name').text()).toContain('Their name');
    expect(doc('#f-name').val()).toBe('My name');
    expect(doc('input[name=members_add]').val()).toBe(anna);
    expect((await t.db('groups').where({ id: gid }).first()).name).toBe('Their name');
    expect(await memberNames(gid)).toEqual([]);
    // The re-rendered form carries the current version: saving again applies my values knowingly.
    const again = {
      _csrf: admin.csrf,
      op: 'save',
      version: String(doc('#group-version').val()),
      baseName: String(doc('input[name=baseName]').val()),
      baseDescription: String(doc('input[name=baseDescription]').val()),
      name: 'My name',
      description: 'old',
      members_add: anna,
    };
    expect((await admin.post(`/groups/${gid}`).type('form').send(again)).status).toBe(303);
    expect((await t.db('groups').where({ id: gid }).first()).name).toBe('My name');
    expect(await memberNames(gid)).toEqual(['anna.berg']);
  });
});

describe('+ Add member', () => {
  let gid: number;
  beforeEach(async () => {
    gid = await createGroup('Typeahead team');
    await addDirect(gid, ['anna.berg']);
  });

  it('suggests users not yet in the group as you type (fragment with htmx, whole page without)', async () => {
    let res = await admin.get(`/groups/${gid}/candidates?q=ann`).set(hx('div#add-member-results'));
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('<html');
    let doc = $(res.text);
    expect(doc('.candidate-name').map((_, e) => doc(e).text()).get()).toEqual(['annika.lund']);
    expect(doc('form').attr('action')).toBe(`/groups/${gid}/members/add`);
    expect(doc('form').attr('hx-include')).toBe('#dl-members');
    res = await admin.get(`/groups/${gid}/candidates?q=ann`);
    doc = $(res.text);
    expect(doc('h1').text()).toContain('Typeahead team');
    expect(doc('#add-member-q').val()).toBe('ann');
    expect(doc('#add-member-results .candidate-name').text()).toBe('annika.lund');
    for (const q of ['', '%', "'; --", '<script>', 'x'.repeat(500)]) {
      res = await admin.get(`/groups/${gid}/candidates?q=${encodeURIComponent(q)}`).set(hx('div#add-member-results'));
      expect(res.status, q).toBe(200);
      expect($(res.text)('.candidate-name').length, q).toBe(0);
    }
  });

  it('adds the picked user at once without JavaScript: audit event, version bump, flash', async () => {
    const before = await t.db('groups').where({ id: gid }).first();
    const res = await admin.post(`/groups/${gid}/members/add`).type('form').send({ _csrf: admin.csrf, userId: String(await userId('annika.lund')), q: 'ann' });
    expect(res.status).toBe(303);
    expect(await memberNames(gid)).toEqual(['anna.berg', 'annika.lund']);
    expect(Number((await t.db('groups').where({ id: gid }).first()).version)).toBe(Number(before.version) + 1);
    const event = await t.db('audit_events').where({ action: 'group.members', object_id: String(gid) }).orderBy('id', 'desc').first();
    expect(JSON.parse(event.after_json)).toMatchObject({ added: ['annika.lund'], addedCount: 1 });
    expect($((await admin.get(`/groups/${gid}`)).text)('.flash-success').text()).toContain('annika.lund was added to Typeahead team');
  });

  it('with htmx: answers with the dual list (pending moves kept), the new count, version and candidates', async () => {
    await addDirect(gid, ['annika.lund']);
    const bob = await userId('bob.stone');
    const carla = await userId('carla.diaz');
    const anna = await userId('anna.berg');
    const res = await admin
      .post(`/groups/${gid}/members/add`)
      .set(hx('fieldset#dl-members'))
      .type('form')
      .send({ _csrf: admin.csrf, userId: String(bob), q: 'b', members_add: `${carla},${bob}`, members_remove: String(anna), members_rq: '' });
    expect(res.status).toBe(200);
    const doc = $(res.text);
    expect(doc('fieldset#dl-members').length).toBe(1);
    // bob is saved now, so he is no longer a pending addition; carla and anna's moves stay pending.
    expect(doc('input[name=members_add]').val()).toBe(String(carla));
    expect(doc('input[name=members_remove]').val()).toBe(String(anna));
    expect(doc('#member-count[hx-swap-oob]').text()).toBe('3 members');
    expect(doc('#group-version[hx-swap-oob]').val()).toBe(String((await t.db('groups').where({ id: gid }).first()).version));
    expect(doc('#add-member-results[hx-swap-oob] .flash-success').text()).toContain('bob.stone was added');
    expect(await memberNames(gid)).toEqual(['anna.berg', 'annika.lund', 'bob.stone']);
  });

  it('reports an existing member, a vanished user and a malformed pick', async () => {
    let res = await admin.post(`/groups/${gid}/members/add`).type('form').send({ _csrf: admin.csrf, userId: String(await userId('anna.berg')) });
    expect(res.status).toBe(303);
    expect($((await admin.get(`/groups/${gid}`)).text)('.flash-success').text()).toContain('anna.berg is already a member');
    res = await admin.post(`/groups/${gid}/members/add`).type('form').send({ _csrf: admin.csrf, userId: '999999' });
    expect(res.status).toBe(303);
    expect($((await admin.get(`/groups/${gid}`)).text)('.flash-error').text()).toContain('no longer exists');
    for (const bad of ['', 'abc', '-1', "1' OR '1'='1", '99999999999']) {
      res = await admin.post(`/groups/${gid}/members/add`).set(hx('fieldset#dl-members')).type('form').send({ _csrf: admin.csrf, userId: bad });
      expect(res.status, bad).toBe(422);
      expect($(res.text)('#add-member-results .field-error').text(), bad).toContain('Choose a user');
    }
    expect((await admin.post('/groups/999999/members/add').type('form').send({ _csrf: admin.csrf, userId: '1' })).status).toBe(404);
  });
});

describe('removing a group', () => {
  it('confirms with what goes with it, then removes it all in one go', async () => {
    const gid = await createGroup('Doomed', 'soon gone');
    const keep = await createGroup('Keeper');
    await addDirect(gid, ['anna.berg', 'bob.stone']);
    await t.make.grant('Doomed', { domain: 'Processes', workspace: '/Root', operations: 'R', transitive: true });
    const asset = await t.make.makeAsset({ name: 'Shared model', owner: 'anna.berg', workspace: '/Root' });
    await t.make.share(asset.id, 'Doomed');
    await t.make.relate('Doomed', 'Keeper');

    const page = await admin.get(`/groups/${gid}/delete`);
    expect(page.status).toBe(200);
    const text = $(page.text)('.confirm p').text();
    expect(text).toContain('2 memberships');
    expect(text).toContain('1 domain permission');
    expect(text).toContain('1 asset share');
    expect(text).toContain('1 group relation');
    const modal = await admin.get(`/groups/${gid}/delete`).set(hx('div#modal-content'));
    expect(modal.text).not.toContain('<html');
    expect($(modal.text)('form').attr('action')).toBe(`/groups/${gid}/delete`);

    const version = await headPosition(t.db);
    const res = await admin.post(`/groups/${gid}/delete`).type('form').send({ _csrf: admin.csrf });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/groups');
    expect(await groupByName('Doomed')).toBeUndefined();
    expect(await t.db('group_members').where({ group_id: gid }).first()).toBeUndefined();
    expect(await t.db('domain_permissions').where({ group_id: gid }).first()).toBeUndefined();
    expect(await t.db('asset_shares').where({ group_id: gid }).first()).toBeUndefined();
    expect(await t.db('group_relations').where({ requester_group_id: gid }).first()).toBeUndefined();
    expect(await t.db('assets').where({ id: asset.id }).first()).toBeTruthy();
    expect(await headPosition(t.db)).toBe(version + 1);
    const event = await t.db('audit_events').where({ action: 'group.delete', object_id: String(gid) }).first();
    expect(JSON.parse(event.after_json)).toEqual({ removedMemberships: 2, removedDomainPermissions: 1, removedAssetShares: 1, removedRelations: 1 });
    expect($((await admin.get('/groups')).text)('.flash-success').text()).toContain('Group Doomed removed, with 2 memberships, 1 domain permission, 1 asset share and 1 relation');
    expect((await admin.post(`/groups/${gid}/delete`).type('form').send({ _csrf: admin.csrf })).status).toBe(404);
  });
});

describe('relations', () => {
  let requester: number;
  let approver: number;
  /** Each test states the relations it starts from (Authors, Reviewers and Auditors are shared). */
  const relate = async (requesterName: string, approverName: string) => {
    const [r, a] = [await groupByName(requesterName), await groupByName(approverName)];
    if (!(await t.db('group_relations').where({ requester_group_id: r.id, approver_group_id: a.id }).first())) {
      await groupService.addRelation(t.db, SYSTEM_ACTOR, { requester: requesterName, approver: approverName });
    }
  };
  const unrelate = async (requesterName: string, approverName: string) => {
    const [r, a] = [await groupByName(requesterName), await groupByName(approverName)];
    if (await t.db('group_relations').where({ requester_group_id: r.id, approver_group_id: a.id }).first()) {
      await groupService.removeRelation(t.db, SYSTEM_ACTOR, r.id, a.id);
    }
  };
  beforeEach(async () => {
    requester = await createGroup('Authors');
    approver = await createGroup('Reviewers');
    await createGroup('Auditors');
    await addDirect(requester, ['anna.berg']);
    await addDirect(approver, ['bob.stone', 'carla.diaz']);
  });

  it('adds a relation from the Relations page and lists it', async () => {
    await unrelate('Authors', 'Reviewers');
    const res = await admin.post('/groups/relations').type('form').send({ _csrf: admin.csrf, requester: 'authors', approver: 'REVIEWERS' });
    expect(res.status).toBe(303);
    expect(await t.db('group_relations').where({ requester_group_id: requester, approver_group_id: approver }).first()).toBeTruthy();
    const doc = $((await admin.get('/groups/relations')).text);
    expect(doc('.flash-success').text()).toContain('members of Authors now need approval from a member of Reviewers');
    const row = doc('#relation-results tbody tr').first();
    expect(row.find('td').first().text()).toBe('Authors');
    expect(row.find('td').eq(2).text()).toBe('Reviewers');
    expect(await t.db('audit_events').where({ action: 'group_relation.create', object_id: `${requester}:${approver}` }).first()).toBeTruthy();
  });

  it('refuses self-relations, duplicates, unknown and empty names beside the fields', async () => {
    await relate('Authors', 'Reviewers');
    const count = () => countRows('group_relations');
    const before = await count();
    const cases: Array<[Record<string, string>, Record<string, RegExp>]> = [
      [{ requester: 'Authors', approver: 'authors' }, { approver: /cannot approve its own/ }],
      [{ requester: 'Authors', approver: 'Reviewers' }, { approver: /already approves for/ }],
      [{ requester: 'Nobody', approver: 'Ghosts' }, { requester: /no group named "Nobody"/, approver: /no group named "Ghosts"/ }],
      [{ requester: '', approver: '' }, { requester: /Choose the requester group/, approver: /Choose the approver group/ }],
      [{ requester: "x' OR 1=1 --", approver: '<script>' }, { requester: /no group named/, approver: /no group named "<script>"/ }],
      [{ requester: 'y'.repeat(300), approver: 'Reviewers' }, { requester: /at most 100/ }],
    ];
    for (const [input, messages] of cases) {
      const res = await admin.post('/groups/relations').type('form').send({ _csrf: admin.csrf, ...input });
      expect(res.status, JSON.stringify(input)).toBe(422);
      const doc = $(res.text);
      for (const [field, message] of Object.entries(messages)) {
        expect(doc(`#e-${field}`).text(), `${field} for ${JSON.stringify(input)}`).toMatch(message);
        expect(doc(`#f-${field}`).attr('aria-invalid')).toBe('true');
      }
    }
    expect(await count()).toBe(before);
  });

  it('suggests group names for the pickers and usernames for "who approves"', async () => {
    let doc = $((await admin.get('/groups/suggest?approver=rev')).text);
    expect(doc('option').map((_, e) => doc(e).attr('value')).get()).toEqual(['Reviewers']);
    doc = $((await admin.get('/groups/suggest?requester=au')).text);
    expect(doc('option').map((_, e) => doc(e).attr('value')).get()).toEqual(['Auditors', 'Authors']);
    expect($((await admin.get('/groups/suggest?q=%25')).text)('option').length).toBe(0);
    expect($((await admin.get('/groups/suggest')).text)('option').length).toBe(0);
    doc = $((await admin.get('/users/suggest?field=user&user=bob')).text);
    expect(doc('option').attr('value')).toBe('bob.stone');
  });

  it('answers "who approves for this user"', async () => {
    await relate('Authors', 'Reviewers');
    let doc = $((await admin.get('/groups/relations?user=ANNA.BERG')).text);
    const rows = doc('#who-approves tbody tr');
    expect(rows.length).toBe(1);
    expect(rows.find('td').first().text()).toContain('Reviewers');
    expect(rows.find('td.num').text()).toBe('2');
    expect(rows.find('td').last().text()).toBe('Authors');
    doc = $((await admin.get('/groups/relations?user=bob.stone')).text);
    expect(doc('#who-approves').text()).toContain('bob.stone publishes without approval');
    doc = $((await admin.get('/groups/relations?user=viewer')).text);
    expect(doc('#who-approves').text()).toContain('they are in no group');
    const res = await admin.get('/groups/relations?user=nobody%3Cb%3E').set(hx('div#who-approves'));
    expect(res.text).not.toContain('<html');
    expect($(res.text)('.field-error').text()).toBe('There is no user "nobody<b>".');
  });

  it('shows both directions on a group’s Relations tab and adds from there', async () => {
    await relate('Authors', 'Reviewers');
    await unrelate('Auditors', 'Reviewers');
    let doc = $((await admin.get(`/groups/${requester}/relations`)).text);
    expect(doc('nav.tabs a[aria-current=page]').text()).toBe('Relations');
    expect(doc('#rel-approver-title').closest('section').find('tbody td:first-child a').text()).toBe('Reviewers');
    expect(doc('#rel-requester-title').closest('section').find('.empty').text()).toBe('No requester group.');
    // Reviewers also approves for Auditors, added from the Reviewers tab as a requester group.
    let res = await admin.post(`/groups/${approver}/relations`).type('form').send({ _csrf: admin.csrf, side: 'requester', requester: 'Auditors' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/groups/${approver}/relations`);
    doc = $((await admin.get(`/groups/${approver}/relations`)).text);
    expect(doc('#rel-requester-title').closest('section').find('tbody td:first-child a').map((_, e) => doc(e).text()).get()).toEqual(['Auditors', 'Authors']);
    res = await admin.post(`/groups/${approver}/relations`).type('form').send({ _csrf: admin.csrf, side: 'approver', approver: 'Reviewers' });
    expect(res.status).toBe(422);
    doc = $(res.text);
    expect(doc('#e-approver').text()).toContain('cannot approve its own');
    res = await admin.post(`/groups/${approver}/relations`).type('form').send({ _csrf: admin.csrf, side: 'requester', requester: 'Unknown group' });
    expect(res.status).toBe(422);
    expect($(res.text)('#e-requester').text()).toContain('no group named "Unknown group"');
    expect((await admin.get('/groups/999999/relations')).status).toBe(404);
  });

  it('removes a relation after a confirmation that says what changes, returning where it started', async () => {
    await relate('Authors', 'Reviewers');
    await relate('Auditors', 'Reviewers');
    const auditors = (await groupByName('Auditors')).id;
    let res = await admin.get(`/groups/relations/${auditors}/${approver}/delete?from=${approver}`);
    expect(res.status).toBe(200);
    let doc = $(res.text);
    expect(doc('.confirm p').text()).toContain('Auditors has no other approver group: its members will publish without approval');
    expect(doc('.confirm form').attr('action')).toBe(`/groups/relations/${auditors}/${approver}/delete?from=${approver}`);
    res = await admin.post(`/groups/relations/${auditors}/${approver}/delete?from=${approver}`).type('form').send({ _csrf: admin.csrf });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/groups/${approver}/relations`);
    expect(await t.db('group_relations').where({ requester_group_id: auditors }).first()).toBeUndefined();
    expect(await t.db('audit_events').where({ action: 'group_relation.delete', object_id: `${auditors}:${approver}` }).first()).toBeTruthy();
    // From the list (an unrelated "from" falls back to the list); a missing relation is a 404.
    const modal = await admin.get(`/groups/relations/${requester}/${approver}/delete?from=${auditors}`).set(hx('div#modal-content'));
    doc = $(modal.text);
    expect(modal.text).not.toContain('<html');
    expect(doc('.confirm form').attr('action')).toBe(`/groups/relations/${requester}/${approver}/delete`);
    res = await admin.post(`/groups/relations/${requester}/${approver}/delete`).type('form').send({ _csrf: admin.csrf });
    expect(res.headers.location).toBe('/groups/relations');
    expect((await admin.get(`/groups/relations/${requester}/${approver}/delete`)).status).toBe(404);
    expect((await admin.post(`/groups/relations/${requester}/${approver}/delete`).type('form').send({ _csrf: admin.csrf })).status).toBe(404);
    expect((await admin.get(`/groups/relations/abc/1/delete`)).status).toBe(404);
  });

  it('searches and pages the relation list', async () => {
    await t.make.makeGroup('Hub approvers');
    for (let i = 0; i < 55; i++) {
      const name = `Rel ${String(i).padStart(2, '0')}`;
      await t.make.makeGroup(name);
      await t.make.relate(name, 'Hub approvers');
    }
    let doc = $((await admin.get('/groups/relations?q=rel')).text);
    expect(doc('#relation-results .result-count').text()).toContain('55 relations');
    expect(doc('#relation-results tbody tr').length).toBe(50);
    doc = $((await admin.get('/groups/relations?q=hub&page=2')).text);
    expect(doc('#relation-results tbody tr').length).toBe(5);
    const frag = await admin.get('/groups/relations?q=rel%2005').set(hx('section#relation-results'));
    expect(frag.text).not.toContain('<html');
    expect($(frag.text)('tbody tr').length).toBe(1);
  });
});
