import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $, createTestApp, eachTestStartsFromSetUp, type Agent, type TestApp } from '../support/app';
import * as userService from '../../src/users/service';
import * as bulk from '../../src/users/bulk';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import type { Actor } from '../../src/http/types';

let t: TestApp;
let admin: Agent;
let adminId: number;

async function statusOf(username: string): Promise<string> {
  return (await t.db('users').where({ username_lower: username.toLowerCase() }).first('status')).status;
}
const makeGroup = async (name: string) => (await t.make.makeGroup(name)).id;
async function makeUsers(prefix: string, n: number, spec: { role?: string; status?: 'active' | 'deactivated'; license?: string; lastName?: string } = {}): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 1; i <= n; i++) ids.push(await t.makeUser({ username: `${prefix}${String(i).padStart(3, '0')}`, lastName: prefix, ...spec }));
  return ids;
}

/** The fields the preview's confirmation form would send. */
function hiddenFields(html: string): Record<string, string> {
  const doc = $(html);
  const fields: Record<string, string> = {};
  doc('form.bulk-confirm input[type=hidden]').each((_, el) => {
    fields[doc(el).attr('name')!] = doc(el).attr('value') ?? '';
  });
  return fields;
}

/** Previews, confirms, follows the job page to its end; returns the preview page, the result page and the confirming response. */
async function runBulk(agent: Agent, query: Record<string, string | string[]>) {
  const preview = await agent.get('/users/bulk').query(query);
  expect(preview.status).toBe(200);
  const fields = hiddenFields(preview.text);
  const res = await agent.post('/users/bulk').type('form').send(fields);
  expect(res.status).toBe(303);
  let page = await agent.get(res.headers.location);
  for (let i = 0; i < 100 && page.headers.refresh; i++) {
    await new Promise((r) => setTimeout(r, 100));
    page = await agent.get(res.headers.location);
  }
  return { preview, result: page, fields };
}

beforeAll(async () => {
  t = await createTestApp();
  adminId = await t.makeUser({ username: 'admin', role: 'superuser' });
  await t.makeUser({ username: 'helpdesk', role: 'administrator' });
  admin = await t.signIn('admin');
});
afterAll(async () => t?.close());
eachTestStartsFromSetUp(() => t);

describe('bulk actions from the users list', () => {
  it('offers tick boxes and the actions on the list', async () => {
    await makeUsers('listed', 2);
    const page = await admin.get('/users?q=listed');
    const doc = $(page.text);
    expect(doc('form#bulk-form input[name=ids]').length).toBe(2);
    expect(doc('#bulk-action option').map((_, o) => doc(o).attr('value')).get()).toEqual(bulk.BULK_ACTION_KEYS);
    expect(doc('#bulk-scope option[value=filter]').text()).toContain('all 2 users matching the filters');
  });

  it('previews a deactivation of all users matching a filter, skipping those already deactivated and the actor, then applies it with one audit event', async () => {
    await makeUsers('leaver', 5);
    await makeUsers('gone', 2, { status: 'deactivated', lastName: 'leaver' });
    const before = Number((await t.db('audit_events').count({ n: '*' }).first())!.n);
    const { preview, result } = await runBulk(admin, { scope: 'filter', q: 'leaver', action: 'deactivate' });
    const p = $(preview.text);
    expect(p('.bulk-summary').text()).toMatch(/5 users\s+will change; 2 users are skipped/);
    expect(p('.skip-reasons').text()).toContain('already in that state');
    expect(p('.bulk-preview').text()).toContain('Already deactivated.');
    expect($(result.text)('.flash-success').text()).toContain('5 users deactivated');
    for (let i = 1; i <= 5; i++) expect(await statusOf(`leaver00${i}`)).toBe('deactivated');
    const events = await t.db('audit_events').where('id', '>', before).select('action', 'after_json');
    expect(events.map((e) => e.action)).toEqual(['user.bulk_deactivate']);
    expect(JSON.parse(events[0].after_json).users).toEqual(['leaver001', 'leaver002', 'leaver003', 'leaver004', 'leaver005']);
  });

  it("lets a phone's narrow preview column wrap a username at its dots and hyphens, not mid-word", async () => {
    await t.makeUser({ username: 'anna.berg-lund.20417' });
    const preview = await admin.get('/users/bulk').query({ scope: 'filter', q: 'anna.berg-lund', action: 'deactivate' });
    const cell = $(preview.text)('.bulk-preview td').filter((_, el) => $(preview.text)(el).text() === 'anna.berg-lund.20417');
    expect(cell.html()).toBe('anna.<wbr>berg-<wbr>lund.<wbr>20417');
  });

  it('never changes the actor: their own account is skipped with the reason', async () => {
    const ids = await makeUsers('mates', 2);
    const preview = await admin.get('/users/bulk').query({ ids: [...ids, adminId].join(','), action: 'deactivate' });
    const p = $(preview.text);
    expect(p('.bulk-summary').text()).toMatch(/2 users\s+will change; 1 user is skipped/);
    expect(p('.bulk-preview').text()).toContain('This is your own account');
  });

  it('skips accounts the actor may not change (the who-may-change-whom rule), with the reason', async () => {
    const helpdesk = await t.signIn('helpdesk');
    const plain = await t.makeUser({ username: 'plain.one' });
    const boss = await t.makeUser({ username: 'boss.one', role: 'superuser' });
    const preview = await helpdesk.get('/users/bulk').query({ ids: `${plain},${boss}`, action: 'deactivate' });
    const p = $(preview.text);
    expect(p('.bulk-summary').text()).toMatch(/1 user\s+will change; 1 user is skipped/);
    expect(p('.bulk-preview').text()).toContain('Only a Superuser may change boss.one');
    // And at apply time the rule is applied again, whatever the form says.
    const res = await helpdesk.post('/users/bulk').type('form').send({ _csrf: helpdesk.csrf, action: 'deactivate', planned: `${plain},${boss}`, ids: `${plain},${boss}` });
    expect(res.status).toBe(303);
    let page = await helpdesk.get(res.headers.location);
    for (let i = 0; i < 50 && page.headers.refresh; i++) page = await helpdesk.get(res.headers.location);
    expect(await statusOf('boss.one')).toBe('active');
    expect(await statusOf('plain.one')).toBe('deactivated');
    expect($(page.text)('body').text()).toContain('Only a Superuser may change boss.one');
  });

  it('asks for the parameters an action needs and refuses a role the actor may not hand out', async () => {
    const helpdesk = await t.signIn('helpdesk');
    const [id] = await makeUsers('promo', 1);
    const ask = await helpdesk.get('/users/bulk').query({ ids: String(id), action: 'assign_role' });
    expect($(ask.text)('#f-roleId').length).toBe(1);
    expect($(ask.text)('.bulk-confirm').length).toBe(0);
    const superRole = (await t.db('roles').where({ builtin_key: 'superuser' }).first('id')).id;
    expect($(ask.text)(`#f-roleId option[value=${superRole}]`).length).toBe(0);
    const refused = await helpdesk.get('/users/bulk').query({ ids: String(id), action: 'assign_role', roleId: String(superRole), previewed: '1' });
    expect($(refused.text)('.field-error').text()).toContain('Only a Superuser may assign the Superuser role');
  });

  it('assigns a role, adds to and removes from a group, unlocks and ends sessions', async () => {
    const ids = await makeUsers('multi', 3);
    const viewer = (await t.db('roles').where({ builtin_key: 'viewer' }).first('id')).id;
    let r = await runBulk(admin, { ids: ids.join(','), action: 'assign_role', roleId: String(viewer) });
    expect($(r.result.text)('.flash-success').text()).toContain('3 users now have the role Viewer');
    expect((await t.db('users').whereIn('id', ids).distinct('role_id')).map((x) => x.role_id)).toEqual([viewer]);

    const group = await makeGroup('Night shift');
    await t.make.addMembers(group, ['multi001']);
    r = await runBulk(admin, { ids: ids.join(','), action: 'add_to_group', group: 'Night shift' });
    expect($(r.preview.text)('.bulk-summary').text()).toMatch(/2 users\s+will change; 1 user is skipped/);
    expect(Number((await t.db('group_members').where({ group_id: group }).count({ n: '*' }).first())!.n)).toBe(3);
    r = await runBulk(admin, { ids: ids.slice(0, 2).join(','), action: 'remove_from_group', group: 'Night shift' });
    expect(Number((await t.db('group_members').where({ group_id: group }).count({ n: '*' }).first())!.n)).toBe(1);

    // An account lock from before sign-in throttling (the column is still honoured, and unlocked).
    await t.db('users').where({ id: ids[1] }).update({ locked_until: Date.now() + 3600_000, failed_logins: 5 });
    r = await runBulk(admin, { ids: ids.join(','), action: 'unlock' });
    expect($(r.result.text)('.flash-success').text()).toContain('1 user unlocked');
    expect((await t.db('users').where({ id: ids[1] }).first('locked_until')).locked_until).toBeNull();

    const agent = await t.signIn('multi003');
    r = await runBulk(admin, { ids: ids.join(','), action: 'end_sessions' });
    expect($(r.result.text)('.flash-success').text()).toContain('1 user signed out: 1 session ended');
    expect((await agent.get('/account')).status).toBe(303);
  });

  it('removes users, transferring their assets to one receiving user', async () => {
    const ids = await makeUsers('quitter', 2);
    const receiver = await t.makeUser({ username: 'heir' });
    for (const [i, owner] of ['quitter001', 'quitter002'].entries()) await t.make.makeAsset({ name: `Model ${i}`, owner, workspace: '/Root' });
    const r = await runBulk(admin, { ids: [...ids, receiver].join(','), action: 'remove', assets: 'transfer', transferTo: 'heir' });
    expect($(r.preview.text)('.bulk-preview').text()).toContain('Receives the assets');
    expect($(r.result.text)('.flash-success').text()).toContain('2 users removed. Their 2 assets now belong to heir.');
    expect(await t.db('users').whereIn('id', ids).count({ n: '*' }).first()).toMatchObject({ n: 0 });
    expect(Number((await t.db('assets').where({ owner_id: receiver }).count({ n: '*' }).first())!.n)).toBe(2);
  });

  it('gives seats to the first users in the list and skips the rest with "no seats left"', async () => {
    const ids = await makeUsers('seat', 4, { license: 'process_viewer' });
    const participant = await t.db('license_types').where({ key: 'process_participant' }).first('id', 'name');
    const used = Number((await t.db('users').where({ license_type_id: participant.id }).count({ n: '*' }).first())!.n);
    await t.make.seatLimit('process_participant', used + 2);
    const r = await runBulk(admin, { ids: ids.join(','), action: 'set_license', licenseTypeId: String(participant.id) });
    expect($(r.preview.text)('.bulk-summary').text()).toMatch(/2 users\s+will change; 2 users are skipped/);
    expect($(r.preview.text)('.skip-reasons').text()).toContain('no seats left');
    expect((await t.db('users').whereIn('id', ids).where({ license_type_id: participant.id }).select('username')).map((u) => u.username).sort()).toEqual(['seat001', 'seat002']);
  });

  it('re-evaluates at apply time and says what changed since the preview', async () => {
    const ids = await makeUsers('racer', 3);
    const preview = await admin.get('/users/bulk').query({ ids: ids.join(','), action: 'deactivate' });
    const fields = hiddenFields(preview.text);
    expect(fields.planned.split(',')).toHaveLength(3);
    // Meanwhile someone else deactivates one and removes another.
    await userService.setStatus(t.db, SYSTEM_ACTOR, ids[0], 'deactivated');
    await userService.deleteUser(t.db, SYSTEM_ACTOR, ids[2], {});
    const res = await admin.post('/users/bulk').type('form').send(fields);
    let page = await admin.get(res.headers.location);
    for (let i = 0; i < 50 && page.headers.refresh; i++) page = await admin.get(res.headers.location);
    const doc = $(page.text);
    expect(doc('.flash-success').text()).toContain('1 user deactivated');
    expect(doc('body').text()).toContain('Changed since the preview');
    expect(doc('body').text()).toContain('Already deactivated.');
    expect(doc('body').text()).toContain('This user no longer exists.');
  });

  it('keeps the last active Superuser', async () => {
    const actor: Actor = { ...SYSTEM_ACTOR };
    const supers = (await t.db('users').join('roles', 'roles.id', 'users.role_id').where('roles.builtin_key', 'superuser').andWhere('users.status', 'active').select('users.id')).map((r) => r.id);
    const resolved = await bulk.resolveAction(t.db, actor, { action: 'deactivate' });
    const plan = await bulk.evaluate(t.db, actor, resolved, supers);
    expect(plan.change.length).toBe(supers.length - 1);
    expect(plan.skipped.map((s) => s.code)).toEqual(['last_superuser']);
  });

  it('works without JavaScript: every step is a link or a form', async () => {
    const ids = await makeUsers('nojs', 2);
    const preview = await admin.get('/users/bulk').query({ ids: ids.join(','), action: 'unlock' });
    const doc = $(preview.text);
    expect(doc('form.bulk-params').attr('method')).toBe('get');
    expect(doc('form.bulk-confirm').length).toBe(0);
    expect(doc('.bulk-summary').text()).toMatch(/0 users\s+will change; 2 users are skipped/);
  });
});

describe('bulk actions racing each other', () => {
  it('never hands out more seats than the limit when two bulk actions run at once', async () => {
    const first = await makeUsers('raceA', 6, { license: 'process_viewer' });
    const second = await makeUsers('raceB', 6, { license: 'process_viewer' });
    const participant = (await t.db('license_types').where({ key: 'process_participant' }).first('id')).id;
    const used = Number((await t.db('users').where({ license_type_id: participant }).count({ n: '*' }).first())!.n);
    await t.make.seatLimit('process_participant', used + 8);
    const actor: Actor = { id: adminId, username: 'admin', ip: '127.0.0.1', isSuperuser: true };
    const raw = { action: 'set_license', licenseTypeId: String(participant) };
    // Both previews see 8 seats left and plan all 6 of their users; applied together, only 8 may get one.
    const results = await Promise.all([bulk.apply(t.db, actor, raw, first), bulk.apply(t.db, actor, raw, second)]);
    const holders = Number((await t.db('users').where({ license_type_id: participant }).count({ n: '*' }).first())!.n);
    expect(holders).toBe(used + 8);
    expect(results.map((r) => r.changed).sort()).toEqual([2, 6]);
    const loser = results.find((r) => r.changed === 2)!;
    expect(loser.sinceThePreview.map((s) => s.code)).toEqual(['no_seats', 'no_seats', 'no_seats', 'no_seats']);
  });

  it('keeps one active Superuser when two bulk deactivations of Superusers run at once', async () => {
    const supers = [];
    for (const name of ['sup.a', 'sup.b']) supers.push(await t.makeUser({ username: name, role: 'superuser' }));
    const all = (await t.db('users').join('roles', 'roles.id', 'users.role_id').where('roles.builtin_key', 'superuser').andWhere('users.status', 'active').select('users.id')).map((r) => Number(r.id));
    // Two actors who are not Superusers of the database (the shell), each taking out every Superuser but one of their own choosing.
    const system: Actor = { ...SYSTEM_ACTOR };
    const raw = { action: 'deactivate' };
    await Promise.all([bulk.apply(t.db, system, raw, all.filter((id) => id !== all[0])), bulk.apply(t.db, system, raw, all.filter((id) => id !== all[1]))]);
    const left = Number(
      (await t.db('users').join('roles', 'roles.id', 'users.role_id').where('roles.builtin_key', 'superuser').andWhere('users.status', 'active').count({ n: '*' }).first())!.n,
    );
    expect(left).toBe(1);
  });
});

