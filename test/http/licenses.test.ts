import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { createTestApp, eachTestStartsFromSetUp, $, type Agent, type TestApp } from '../support/app';
import { headPosition } from '../../src/changes/service';

/** Licenses: seats assigned / limit / remaining, seat limits (Superuser), seat refusal, caps, API. */
let t: TestApp;
let su: Agent;
let su2: Agent;
let adm: Agent;
const lic: Record<string, number> = {};

async function license(key: string) {
  return t.db('license_types').where({ key }).first();
}
async function cap(licenseKey: string, domainKey: string): Promise<string> {
  const r = await t.db('license_caps')
    .join('domains', 'domains.id', 'license_caps.domain_id')
    .where({ 'license_caps.license_type_id': lic[licenseKey], 'domains.key': domainKey })
    .first('license_caps.operations as ops');
  return r.ops;
}
function row(html: string, key: string) {
  const $$ = $(html);
  return { $$, tr: $$(`tr#license-${key}`) };
}

beforeAll(async () => {
  t = await createTestApp();
  for (const l of await t.db('license_types').select('id', 'key')) lic[l.key] = l.id;
  await t.makeUser({ username: 'root', role: 'superuser' });
  await t.makeUser({ username: 'root2', role: 'superuser' });
  await t.makeUser({ username: 'adm', role: 'administrator' });
  for (let i = 0; i < 3; i++) await t.makeUser({ username: `part${i}`, role: 'viewer', license: 'process_participant' });
  su = await t.signIn('root');
  su2 = await t.signIn('root2');
  adm = await t.signIn('adm');
});
afterAll(async () => t?.close());
eachTestStartsFromSetUp(() => t);

describe('licenses page', () => {
  it('shows per license type the seats assigned, the limit and what remains', async () => {
    await t.make.seatLimit('process_participant', 5);
    const { tr } = row((await adm.get('/licenses')).text, 'process_participant');
    const text = tr.text().replace(/\s+/g, ' ');
    expect(text).toContain('Process participant');
    expect(tr.find('td.num').eq(0).text().trim()).toBe('3');
    expect(tr.find('td.num').eq(1).text().trim()).toBe('5');
    expect(tr.find('td.num').eq(2).text().trim()).toBe('2');
    const modeler = row((await adm.get('/licenses')).text, 'process_modeler').tr;
    expect(modeler.find('td.num').eq(0).text().trim()).toBe('2');
    expect(modeler.find('td.num').eq(1).text().trim()).toBe('Unlimited');
  });

  it('shows the caps table read-only to an Administrator, without seat forms', async () => {
    const $$ = $((await adm.get('/licenses')).text);
    expect($$('form.seat-form').length).toBe(0);
    expect($$('a[href="/licenses/caps"]').length).toBe(0);
    expect($$('.card .hint').first().text()).toContain('Only a Superuser may change seat limits');
    const caps = $$('table.caps-table');
    expect(caps.find('tbody tr').length).toBe(20);
    const processes = caps.find('tbody tr').first();
    expect(processes.find('th').text()).toBe('Processes');
    // Project manager reads processes only.
    expect(processes.find('td').eq(1).find('.cap-on').text()).toBe('R');
    expect(caps.find('input').length).toBe(0);
  });

  it('marks a license whose seats are all taken', async () => {
    await t.make.seatLimit('process_participant', 3);
    const { tr } = row((await su.get('/licenses')).text, 'process_participant');
    expect(tr.find('.badge-warn').text()).toContain('all taken');
  });
});

describe('seat limits (Superuser)', () => {
  const save = (agent: Agent, key: string, seatLimit: string, version?: number) =>
    agent.post(`/licenses/${key}/seats`).type('form').send({ _csrf: agent.csrf, seatLimit, ...(version ? { version: String(version) } : {}) });

  it('sets and clears a limit, audited', async () => {
    const l = await license('project_manager');
    const res = await save(su, 'project_manager', '10', l.version);
    expect(res.status).toBe(303);
    expect((await license('project_manager')).seat_limit).toBe(10);
    const ev = await t.db('audit_events').where({ action: 'license.seat_limit' }).orderBy('id', 'desc').first();
    expect(JSON.parse(ev.after_json)).toEqual({ seatLimit: 10, seatsAssigned: 1 });
    expect((await save(su, 'project_manager', '', l.version + 1)).status).toBe(303);
    expect((await license('project_manager')).seat_limit).toBeNull();
  });

  it('never goes below the seats assigned, with the message beside the field', async () => {
    await t.make.seatLimit('process_participant', 5);
    const l = await license('process_participant');
    const res = await save(su, 'process_participant', '2', l.version);
    expect(res.status).toBe(422);
    const { tr } = row(res.text, 'process_participant');
    expect(tr.find('.field-error').text()).toContain('3 Process participant seats are assigned');
    expect(tr.find('input[name=seatLimit]').attr('value')).toBe('2');
    expect(tr.find('input[name=seatLimit]').attr('aria-invalid')).toBe('true');
    expect((await license('process_participant')).seat_limit).toBe(5);
    expect((await save(su, 'process_participant', '3', l.version)).status).toBe(303);
    expect((await license('process_participant')).seat_limit).toBe(3);
  });

  it('refuses bad input beside the field, never a 500', async () => {
    for (const value of ['abc', '-1', '1.5', '99999999999', '<script>', "1; DROP TABLE users"]) {
      const res = await save(su, 'process_viewer', value);
      expect(res.status, value).toBe(422);
      expect(row(res.text, 'process_viewer').tr.find('.field-error').text(), value).toMatch(/Seat limit/);
    }
    expect((await license('process_viewer')).seat_limit).toBeNull();
    expect((await su.post('/licenses/no_such/seats').type('form').send({ _csrf: su.csrf, seatLimit: '1' })).status).toBe(404);
  });

  it('refuses a save based on an old version and shows the current limit', async () => {
    const l = await license('process_viewer');
    expect((await save(su, 'process_viewer', '50', l.version)).status).toBe(303);
    const stale = await save(su2, 'process_viewer', '70', l.version);
    expect(stale.status).toBe(409);
    const $$ = $(stale.text);
    expect($$('.flash-error').text()).toContain('changed by someone else meanwhile: it is now 50');
    expect((await license('process_viewer')).seat_limit).toBe(50);
  });

  it('is refused to an Administrator', async () => {
    await t.make.seatLimit('process_viewer', 50);
    const res = await save(adm, 'process_viewer', '1000');
    expect(res.status).toBe(403);
    expect((await license('process_viewer')).seat_limit).toBe(50);
  });
});

describe('assigning a license beyond its seats is refused everywhere', () => {
  it('on the create-user form, with the message beside the license field', async () => {
    // process_participant: 3 assigned, limit 3.
    await t.make.seatLimit('process_participant', 3);
    const res = await su.post('/users/new').type('form').send({
      _csrf: su.csrf,
      username: 'one.more',
      firstName: 'One',
      lastName: 'More',
      email: 'one.more@example.com',
      password: 'a-long-test-password-1',
      licenseTypeId: String(lic.process_participant),
      op: 'save',
    });
    expect(res.status).toBe(409);
    expect($(res.text)('#e-licenseTypeId').text()).toContain('No Process participant seats left');
    expect(await t.db('users').where('username_lower', 'one.more').first()).toBeUndefined();
  });

  it('on the edit-user form and through the API', async () => {
    await t.make.seatLimit('process_participant', 3);
    const uid = await t.makeUser({ username: 'switcher', role: 'analyst' });
    const u = await t.db('users').where({ id: uid }).first();
    const res = await su.post(`/users/${uid}`).type('form').send({
      _csrf: su.csrf,
      firstName: 'S',
      lastName: 'W',
      email: 'switcher@example.com',
      roleId: String(u.role_id),
      licenseTypeId: String(lic.process_participant),
      version: String(u.version),
      op: 'save',
    });
    expect(res.status).toBe(409);
    expect($(res.text)('#e-licenseTypeId').text()).toContain('No Process participant seats left');
    const token = await t.token('root');
    const api = await request(t.server)
      .post('/api/v1/users')
      .set('Authorization', `Bearer ${token}`)
      .send({ username: 'api.more', firstName: 'A', lastName: 'M', email: 'api.more@example.com', password: 'a-long-test-password-1', license: 'process_participant' });
    expect(api.status).toBe(409);
    expect(api.body.error.details.fields.license).toContain('No Process participant seats left');
  });
});

describe('license caps (Superuser)', () => {
  it('edits caps on their own page; applies only changed boxes; records a change; audited', async () => {
    const form = $((await su.get('/licenses/caps')).text);
    expect(form('input[type=checkbox][name="cap:process_viewer:files"]').length).toBe(4);
    const was = form('input[name="was:process_viewer:files"]').attr('value');
    expect(was).toBe('');
    const version = await headPosition(t.db);
    // Meanwhile another Superuser lets Process viewer read Reports.
    const other = $((await su2.get('/licenses/caps')).text);
    expect(other('input[name="was:process_viewer:reports"]').attr('value')).toBe('');
    expect((await su2.post('/licenses/caps').type('form').send({ _csrf: su2.csrf, 'was:process_viewer:reports': '', 'cap:process_viewer:reports': 'R' })).status).toBe(303);
    // The first form (stale for Reports) grants R on Files and leaves Reports as it showed it.
    const body: Record<string, string | string[]> = { _csrf: su.csrf };
    form('input[type=hidden][name^="was:"]').each((_, e) => {
      body[form(e).attr('name')!] = form(e).attr('value')!;
    });
    form('input[type=checkbox][name^="cap:"]:checked').each((_, e) => {
      const n = form(e).attr('name')!;
      body[n] = [...((body[n] as string[]) ?? []), form(e).attr('value')!];
    });
    body['cap:process_viewer:files'] = ['R'];
    const res = await su.post('/licenses/caps').type('form').send(body);
    expect(res.status).toBe(303);
    expect(await cap('process_viewer', 'files')).toBe('R');
    expect(await cap('process_viewer', 'reports')).toBe('R');
    expect(await cap('process_modeler', 'processes')).toBe('RMCD');
    expect(await headPosition(t.db)).toBe(version + 2);
    const ev = await t.db('audit_events').where({ action: 'license.caps' }).orderBy('id', 'desc').first();
    expect(JSON.parse(ev.after_json)).toEqual([{ license: 'Process viewer', domain: 'Files', operations: 'R' }]);
    const page = $((await su.get('/licenses')).text);
    expect(page('.flash-success').text()).toContain('Saved 1 license cap change');
  });

  it('saving an unchanged form changes nothing and does not bump the counter', async () => {
    const version = await headPosition(t.db);
    const res = await su.post('/licenses/caps').type('form').send({ _csrf: su.csrf, 'was:process_modeler:files': 'RMCD', 'cap:process_modeler:files': ['R', 'M', 'C', 'D'] });
    expect(res.status).toBe(303);
    expect(await headPosition(t.db)).toBe(version);
  });

  it('ignores junk in the form instead of failing', async () => {
    const res = await su.post('/licenses/caps').type('form').send({ _csrf: su.csrf, 'was:process_modeler:nowhere': 'R', 'cap:process_viewer:files': ['X', '<b>'], 'was:process_viewer:files': 'R' });
    expect(res.status).toBe(303);
    expect(await cap('process_viewer', 'files')).toBe('');
  });

  it('is refused to an Administrator', async () => {
    expect((await adm.get('/licenses/caps')).status).toBe(403);
    const res = await adm.post('/licenses/caps').type('form').send({ _csrf: adm.csrf, 'was:process_viewer:files': '', 'cap:process_viewer:files': ['R', 'M', 'C', 'D'] });
    expect(res.status).toBe(403);
    expect(await cap('process_viewer', 'files')).toBe('');
  });
});

describe('API /api/v1/licenses', () => {
  let token: string;
  const api = (method: 'get' | 'patch' | 'put', url: string) => request(t.server)[method](`/api/v1${url}`).set('Authorization', `Bearer ${token}`);
  beforeEach(async () => {
    token = await t.token('root');
  });

  it('lists seats per license type', async () => {
    await t.make.seatLimit('process_participant', 3);
    await t.make.seatLimit('process_viewer', 50);
    const res = await api('get', '/licenses');
    expect(res.status).toBe(200);
    const p = res.body.items.find((x: { key: string }) => x.key === 'process_participant');
    expect(p).toMatchObject({ name: 'Process participant', seatLimit: 3, seatsAssigned: 3, seatsRemaining: 0 });
    expect(res.body.items.map((x: { key: string }) => x.key)).toEqual(['process_modeler', 'project_manager', 'process_participant', 'process_viewer']);
    expect((await api('get', '/licenses?x=1')).status).toBe(400);
    expect((await api('get', '/licenses/process_viewer')).body.seatLimit).toBe(50);
    expect((await api('get', '/licenses/nope')).status).toBe(404);
  });

  it('patches the seat limit with strict validation and the same rules as the page', async () => {
    const cur = (await api('get', '/licenses/process_participant')).body;
    expect((await api('patch', '/licenses/process_participant').send({ seatLimit: 2 })).status).toBe(422);
    const ok = await api('patch', '/licenses/process_participant').send({ seatLimit: 8, version: cur.version });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ seatLimit: 8, seatsRemaining: 5, version: cur.version + 1 });
    expect((await api('patch', '/licenses/process_participant').send({ seatLimit: 9, version: cur.version })).status).toBe(409);
    const unlimited = await api('patch', '/licenses/process_participant').send({ seatLimit: null });
    expect(unlimited.body.seatLimit).toBeNull();
    for (const body of [{}, { seatLimit: 'many' }, { seatLimit: -1 }, { seatLimit: 3, seats: 3 }]) {
      const res = await api('patch', '/licenses/process_participant').send(body);
      expect(res.status, JSON.stringify(body)).toBe('seats' in body ? 400 : 422);
      expect(res.body.error.code).toBe('validation_failed');
    }
    const unknown = await api('patch', '/licenses/process_participant').send({ seatLimit: 3, seats: 3 });
    expect(unknown.body.error.details.fields.seats).toContain('not a known field');
  });

  it('reads and replaces caps; domains left out keep theirs; records a change', async () => {
    const got = await api('get', '/licenses/process_participant/caps');
    expect(got.status).toBe(200);
    expect(got.body.caps.comments).toBe('RMC');
    expect(Object.keys(got.body.caps).length).toBe(20);
    const version = await headPosition(t.db);
    const put = await api('put', '/licenses/process_participant/caps').send({ caps: { comments: 'R', files: 'R', feedback: 'CMR' } });
    expect(put.status).toBe(200);
    expect(put.body.changed).toBe(1);
    expect(put.body.caps.comments).toBe('R');
    expect(put.body.caps.files).toBe('R');
    expect(put.body.caps.feedback).toBe('RMC');
    expect(await headPosition(t.db)).toBe(version + 1);
    for (const [body, field] of [
      [{ caps: { moon: 'R' } }, 'caps.moon'],
      [{ caps: { files: 'RX' } }, 'caps.files'],
      [{ caps: { files: 'RMCDR' } }, 'caps.files'],
      [{ caps: 'R' }, 'caps'],
      [{}, 'caps'],
      [{ caps: {}, extra: 1 }, 'extra'],
    ] as const) {
      const res = await api('put', '/licenses/process_participant/caps').send(body);
      // A field the API does not know is a 400; a value it refuses, or a domain key that names no domain (domains are
      // added at run time, src/domains), a 422 on that field.
      expect(res.status, JSON.stringify(body)).toBe(field === 'extra' ? 400 : 422);
      expect(Object.keys(res.body.error.details.fields), JSON.stringify(body)).toContain(field);
    }
  });

  it('a caps change reaches the access engine at once (the change log)', async () => {
    // A Process viewer in a group allowed to modify Files: the license (no Files at all) decides.
    await t.makeUser({ username: 'capped', role: 'viewer', license: 'process_viewer' });
    await t.make.makeGroup('Filers', ['capped']);
    await t.make.grant('Filers', { domain: 'Files', workspace: '/Root', operations: 'RM', transitive: true });
    const check = () => request(t.server).post('/api/v1/check').set('Authorization', `Bearer ${token}`).send({ user: 'capped', domain: 'Files', operation: 'M', workspace: '/Root' });
    const before = await check();
    expect(before.status).toBe(200);
    expect(before.body).toMatchObject({ allowed: false, reason: 'license' });
    expect((await api('put', '/licenses/process_viewer/caps').send({ caps: { files: 'RM' } })).status).toBe(200);
    const after = await check();
    expect(after.body).toMatchObject({ allowed: true, reason: 'rule' });
  });
});
