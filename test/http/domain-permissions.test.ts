import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { $, createTestApp, eachTestStartsFromSetUp, type Agent, type TestApp } from '../support/app';
import { headPosition } from '../../src/changes/service';

/** Group → Permissions tab and /api/v1 permissions: list, add, edit, remove, and every refusal. */
let t: TestApp;
let admin: Agent;
let token: string;
let sales: number;
let processes: number;
let files: number;

const api = () => request(t.server);
const auth = () => ({ Authorization: `Bearer ${token}` });

const makeGroup = async (name: string) => (await t.make.makeGroup(name)).id;

/** High Allow R on Processes at /Root/Sales, level 4, only there: the permission the edit tests start from. */
const salesRule = () => t.make.grant('Sales', { domain: 'Processes', workspace: '/Root/Sales', operations: 'R', level: 4, priority: 'high' });

async function domainId(key: string): Promise<number> {
  return Number((await t.db('domains').where({ key }).first('id')).id);
}

async function wsId(path: string): Promise<number> {
  const res = await api().get('/api/v1/workspaces?limit=500').set(auth());
  const w = res.body.items.find((x: { path: string }) => x.path === path);
  if (!w) throw new Error(`no workspace ${path}`);
  return w.id;
}

async function perms(groupId: number) {
  return t.db('domain_permissions').where({ group_id: groupId }).orderBy('id');
}

function form(overrides: Record<string, string | string[] | undefined> = {}) {
  const base: Record<string, string | string[] | undefined> = {
    _csrf: admin.csrf,
    effect: 'allow',
    domain: String(files),
    workspace: '/Root/Sales',
    transitive: '1',
    ops: ['R', 'M'],
    priority: 'low',
  };
  const out = { ...base, ...overrides };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

function post(url: string, body: Record<string, unknown>, agent = admin) {
  // Repeated fields (ops) as a=1&a=2, like a browser.
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(body)) for (const x of Array.isArray(v) ? v : [v]) params.append(k, String(x));
  return agent.post(url).type('form').send(params.toString());
}

function fieldError(html: string, field: string): string {
  return $(html)(`#e-${field}`).text().trim();
}

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'admin', role: 'superuser' });
  admin = await t.signIn('admin');
  token = await t.token('admin');
  sales = await makeGroup('Sales');
  processes = await domainId('processes');
  files = await domainId('files');
  for (const [name, parent] of [['Sales', '/Root'], ['EMEA', '/Root/Sales'], ['Engineering', '/Root']]) {
    const res = await api().post('/api/v1/workspaces').set(auth()).send({ name, parent });
    expect(res.status).toBe(201);
  }
});
afterAll(async () => t?.close());
eachTestStartsFromSetUp(() => t);

describe('the Permissions tab', () => {
  it('shows the group tabs, an empty list and the add form with Allow/Deny, domains from the catalog and the workspace picker', async () => {
    const res = await admin.get(`/groups/${sales}/permissions`);
    expect(res.status).toBe(200);
    const doc = $(res.text);
    expect(doc('nav.tabs a[aria-current="page"]').text()).toBe('Permissions');
    expect(doc('#perm-list .empty').text()).toContain('No permissions yet');
    expect(doc('input[name=effect]').map((_, e) => doc(e).val()).get()).toEqual(['allow', 'deny']);
    expect(doc('input[name=priority]').map((_, e) => doc(e).val()).get()).toEqual(['high', 'low']);
    expect(doc('input[name=ops]').map((_, e) => doc(e).val()).get()).toEqual(['R', 'M', 'C', 'D']);
    const domains = doc('#f-domain option').map((_, o) => doc(o).text()).get();
    expect(domains).toContain('Processes');
    expect(domains).toContain('Maintenance');
    expect(doc('#f-domain option[data-levels]').text()).toBe('Processes');
    expect(doc('#f-workspace').attr('hx-get')).toBe('/workspaces/suggest');
    expect(doc('input[name=workspaceId][type=hidden]').length).toBe(1);
    expect(doc('.level-field select[name=level] option').length).toBe(10);
  });

  it('adds a permission, lists it with its attributes, audits it and bumps the access version', async () => {
    const version = await headPosition(t.db);
    const res = await post(`/groups/${sales}/permissions`, form({ domain: String(processes), ops: ['R'], level: '4', priority: 'high', transitive: undefined }));
    expect(res.status, res.text).toBe(303);
    expect(res.headers.location).toBe(`/groups/${sales}/permissions`);
    const [p] = await perms(sales);
    expect(p).toMatchObject({ effect: 'allow', domain_id: processes, level: 4, priority: 'high' });
    expect(Boolean(p.transitive)).toBe(false);
    expect(await headPosition(t.db)).toBe(version + 1);
    const ev = await t.db('audit_events').where({ action: 'permission.create', object_id: String(p.id) }).first();
    expect(JSON.parse(ev.after_json)).toEqual({ id: p.id, group: 'Sales', effect: 'allow', domain: 'Processes', workspace: '/Root/Sales', transitive: false, operations: 'R', level: 4, priority: 'high' });
    const list = await admin.get(res.headers.location);
    const row = $(list.text)(`#perm-${p.id}`);
    expect(row.find('.badge-allow').text()).toBe('Allow');
    expect(row.text()).toContain('Processes');
    expect(row.find('.perm-path').text()).toBe('/Root/Sales');
    expect(row.text()).toContain('No, only here');
    expect(row.find('.perm-ops .op-on').text()).toBe('R');
    expect(row.find('td').eq(5).text()).toBe('4');
    expect(row.text()).toContain('High');
    expect($(list.text)('.flash-success').text()).toContain('High Allow Processes on /Root/Sales');
  });

  it('accepts the workspace by the id the picker chose, and by a unique name typed without JavaScript', async () => {
    const emea = await wsId('/Root/Sales/EMEA');
    const byId = await post(`/groups/${sales}/permissions`, form({ workspace: '/Root/Sales/EMEA', workspaceId: String(emea), effect: 'deny' }));
    expect(byId.status).toBe(303);
    const byName = await post(`/groups/${sales}/permissions`, form({ workspace: 'engineering', ops: ['C'] }));
    expect(byName.status).toBe(303);
    const rows = await perms(sales);
    expect(rows.map((r: { workspace_id: number }) => Number(r.workspace_id)).slice(-2)).toEqual([emea, await wsId('/Root/Engineering')]);
    // A stale id (the text names another workspace) loses to the text.
    const stale = await post(`/groups/${sales}/permissions`, form({ workspace: '/Root/Engineering', workspaceId: String(emea), ops: ['D'] }));
    expect(stale.status).toBe(303);
    expect(Number((await perms(sales)).pop().workspace_id)).toBe(await wsId('/Root/Engineering'));
  });

  it('refuses invalid combinations beside the field, with 422 and nothing written', async () => {
    const cases: Array<[Record<string, string | string[] | undefined>, string, string]> = [
      [{ ops: undefined }, 'ops', 'Tick at least one operation'],
      [{ ops: ['R', 'X'] }, 'ops', 'R (Read), M (Modify), C (Create) and D (Delete)'],
      [{ ops: ['R', 'R'] }, 'ops', 'each at most once'],
      [{ level: '3' }, 'level', 'Levels apply only to Processes; for Files leave the level at 0.'],
      [{ domain: String(processes), level: '10' }, 'level', 'from 0 to 9'],
      [{ domain: String(processes), level: '-1' }, 'level', 'from 0 to 9'],
      [{ domain: String(processes), level: '2.5' }, 'level', 'from 0 to 9'],
      [{ workspace: '/Root/Nowhere' }, 'workspace', 'There is no workspace "/Root/Nowhere"'],
      [{ workspace: '' }, 'workspace', 'Choose a workspace.'],
      [{ workspace: '<script>alert(1)</script>' }, 'workspace', 'There is no workspace'],
      [{ workspace: "' OR 1=1 --" }, 'workspace', 'There is no workspace named'],
      [{ domain: '' }, 'domain', 'Choose a domain.'],
      [{ domain: '99999' }, 'domain', 'Choose one of the offered domains.'],
      [{ domain: "1 OR 1=1" }, 'domain', 'Choose one of the offered domains.'],
      [{ effect: 'maybe' }, 'effect', 'Choose Allow or Deny.'],
      [{ effect: undefined }, 'effect', 'Choose Allow or Deny.'],
      [{ priority: 'urgent' }, 'priority', 'Choose High or Low priority.'],
    ];
    const before = await perms(sales);
    const version = await headPosition(t.db);
    for (const [overrides, field, message] of cases) {
      const res = await post(`/groups/${sales}/permissions`, form(overrides));
      expect(res.status, JSON.stringify(overrides)).toBe(422);
      expect(fieldError(res.text, field), JSON.stringify(overrides)).toContain(message);
    }
    // Several problems at once: each beside its own field.
    const many = await post(`/groups/${sales}/permissions`, form({ ops: undefined, level: '5', workspace: '/Root/Nope' }));
    expect(fieldError(many.text, 'ops')).toContain('Tick at least one');
    expect(fieldError(many.text, 'level')).toContain('Levels apply only to Processes');
    expect(fieldError(many.text, 'workspace')).toContain('There is no workspace');
    // A refused level stays visible even though the domain is not Processes (so it can be corrected).
    expect($(many.text)('.level-field').hasClass('force-show')).toBe(true);
    expect(await perms(sales)).toEqual(before);
    expect(await headPosition(t.db)).toBe(version);
  });

  it('keeps what was typed, escaped, when refusing', async () => {
    const res = await post(`/groups/${sales}/permissions`, form({ workspace: '<img src=x onerror=alert(1)>', effect: 'deny', ops: ['C', 'D'] }));
    expect(res.status).toBe(422);
    expect(res.text).not.toContain('<img src=x');
    const doc = $(res.text);
    expect(doc('#f-workspace').val()).toBe('<img src=x onerror=alert(1)>');
    expect(doc('input[name=effect][value=deny]').attr('checked')).toBeDefined();
    expect(doc('input[name=ops]:checked').map((_, e) => doc(e).val()).get()).toEqual(['C', 'D']);
  });

  it('refuses a duplicate of an existing identical permission', async () => {
    const ok = await post(`/groups/${sales}/permissions`, form({ ops: ['R'], workspace: '/Root' }));
    expect(ok.status).toBe(303);
    const n = (await perms(sales)).length;
    const dup = await post(`/groups/${sales}/permissions`, form({ ops: ['R'], workspace: '/root/' }));
    expect(dup.status).toBe(422);
    expect(fieldError(dup.text, 'rule')).toMatch(/already has exactly this permission \(#\d+\)/);
    expect((await perms(sales)).length).toBe(n);
    // Differing in one attribute is not a duplicate.
    expect((await post(`/groups/${sales}/permissions`, form({ ops: ['R'], workspace: '/Root', priority: 'high' }))).status).toBe(303);
  });

  it('with htmx, swaps only the editor: the form with messages on a refusal, a redirect on success', async () => {
    const bad = await post(`/groups/${sales}/permissions`, form({ ops: undefined })).set('HX-Request', 'true').set('HX-Target', 'section#perm-editor');
    expect(bad.status).toBe(422);
    expect(bad.text.trim().startsWith('<section id="perm-editor"')).toBe(true);
    expect(fieldError(bad.text, 'ops')).toContain('Tick at least one');
    const good = await post(`/groups/${sales}/permissions`, form({ ops: ['M'], workspace: '/Root/Engineering' })).set('HX-Request', 'true').set('HX-Target', 'section#perm-editor');
    expect(good.status).toBe(204);
    expect(good.headers['hx-redirect']).toBe(`/groups/${sales}/permissions`);
  });

  it('edits a permission: the form shows its values; saving replaces them; a stale version is refused', async () => {
    await salesRule();
    const [p] = await perms(sales);
    const edit = await admin.get(`/groups/${sales}/permissions/${p.id}`).set('HX-Request', 'true').set('HX-Target', 'section#perm-editor');
    expect(edit.text).not.toContain('<html');
    const doc = $(edit.text);
    // Named by what it is, not by an internal id.
    expect(doc('h2').text()).toBe('Edit the Allow on Processes at /Root/Sales');
    expect(doc('#f-domain option[selected]').text()).toBe('Processes');
    expect(doc('#f-workspace').val()).toBe('/Root/Sales');
    expect(doc('#f-level option[selected]').text()).toBe('4');
    expect(doc('input[name=priority][value=high]').attr('checked')).toBeDefined();
    const version = doc('input[name=version]').val() as string;
    const saved = await post(`/groups/${sales}/permissions/${p.id}`, form({ version, domain: String(processes), ops: ['R', 'M'], level: '6', priority: 'high', workspace: '/Root/Sales/EMEA' }));
    expect(saved.status).toBe(303);
    const after = await t.db('domain_permissions').where({ id: p.id }).first();
    expect(after).toMatchObject({ level: 6, workspace_id: await wsId('/Root/Sales/EMEA'), version: Number(version) + 1 });
    const ev = await t.db('audit_events').where({ action: 'permission.update', object_id: String(p.id) }).first();
    expect(JSON.parse(ev.before_json).level).toBe(4);
    expect(JSON.parse(ev.after_json).level).toBe(6);
    const stale = await post(`/groups/${sales}/permissions/${p.id}`, form({ version, domain: String(processes), ops: ['R'], level: '1' }));
    expect(stale.status).toBe(409);
    expect($(stale.text)('.flash-error').text()).toContain('changed by someone else');
    expect((await t.db('domain_permissions').where({ id: p.id }).first()).level).toBe(6);
    // The refused form keeps the input and carries the current version.
    expect($(stale.text)('#perm-editor input[name=version]').val()).toBe(String(Number(version) + 1));
    expect($(stale.text)('#f-level option[selected]').text()).toBe('1');
  });

  it('validates edits like additions, including duplicates of another permission', async () => {
    await t.make.grant('Sales', { domain: 'Processes', workspace: '/Root/Sales/EMEA', operations: 'RM', level: 6, priority: 'high' });
    await t.make.grant('Sales', { domain: 'Files', workspace: '/Root/Sales', operations: 'R' });
    const rows = await perms(sales);
    const target = rows[1];
    const other = rows[0];
    const dup = await post(`/groups/${sales}/permissions/${target.id}`, form({
      effect: other.effect, domain: String(other.domain_id), workspace: '/Root/Sales/EMEA', transitive: other.transitive ? '1' : undefined,
      ops: ['R', 'M'], level: String(other.level), priority: other.priority,
    }));
    expect(dup.status).toBe(422);
    expect(fieldError(dup.text, 'rule')).toContain(`#${other.id}`);
    const noOps = await post(`/groups/${sales}/permissions/${target.id}`, form({ ops: undefined }));
    expect(noOps.status).toBe(422);
    expect(await t.db('domain_permissions').where({ id: target.id }).first()).toEqual(target);
  });

  it('answers 404 for a permission of another group, an unknown group or permission', async () => {
    const other = await makeGroup('Other');
    const p = await salesRule();
    expect((await admin.get(`/groups/${other}/permissions/${p.id}`)).status).toBe(404);
    expect((await post(`/groups/${other}/permissions/${p.id}`, form())).status).toBe(404);
    expect((await post(`/groups/${other}/permissions/${p.id}/delete`, { _csrf: admin.csrf })).status).toBe(404);
    expect((await admin.get('/groups/999999/permissions')).status).toBe(404);
    expect((await admin.get(`/groups/${sales}/permissions/999999`)).status).toBe(404);
    expect((await post('/groups/999999/permissions', form())).status).toBe(404);
  });

  it('removes a permission with the shared confirmation (page without JS, dialog with htmx)', async () => {
    const p = await salesRule();
    const page = await admin.get(`/groups/${sales}/permissions/${p.id}/delete`);
    expect(page.status).toBe(200);
    expect($(page.text)('.confirm h2').text()).toMatch(/^Remove this (Allow|Deny) on \S.* from \S.*\?$/);
    expect($(page.text)('.confirm h2').text()).not.toContain(`#${p.id}`);
    expect($(page.text)('.confirm form').attr('action')).toBe(`/groups/${sales}/permissions/${p.id}/delete`);
    const dialog = await admin.get(`/groups/${sales}/permissions/${p.id}/delete`).set('HX-Request', 'true').set('HX-Target', 'div#modal-content');
    expect(dialog.text).not.toContain('<html');
    expect($(dialog.text)('[data-close-dialog]').length).toBe(1);
    const version = await headPosition(t.db);
    const res = await post(`/groups/${sales}/permissions/${p.id}/delete`, { _csrf: admin.csrf });
    expect(res.status).toBe(303);
    expect(await t.db('domain_permissions').where({ id: p.id }).first()).toBeUndefined();
    expect(await headPosition(t.db)).toBe(version + 1);
    expect(await t.db('audit_events').where({ action: 'permission.delete', object_id: String(p.id) }).first()).toBeDefined();
    expect((await post(`/groups/${sales}/permissions/${p.id}/delete`, { _csrf: admin.csrf })).status).toBe(404);
  });

  it('pages a long list', async () => {
    const big = await makeGroup('Many rules');
    // 60 different permissions: Allow/Deny × Low/High × the 15 non-empty sets of operations.
    const opSets = Array.from({ length: 15 }, (_, n) => [...'RMCD'].filter((_, bit) => (n + 1) & (1 << bit)).join(''));
    for (let i = 0; i < 60; i++) {
      await t.make.grant('Many rules', { effect: i % 2 ? 'deny' : 'allow', priority: (i >> 1) % 2 ? 'high' : 'low', domain: 'Files', workspace: '/Root', operations: opSets[i >> 2] });
    }
    const first = await admin.get(`/groups/${big}/permissions`);
    expect($(first.text)('#perm-list tbody tr').length).toBe(50);
    expect($(first.text)('.pagination').text()).toContain('Page 1 of 2');
    const second = await admin.get(`/groups/${big}/permissions?page=2`);
    expect($(second.text)('#perm-list tbody tr').length).toBe(10);
  });

  it('is refused without access.manage', async () => {
    await t.makeUser({ username: 'usermanager', role: 'administrator' });
    await t.makeUser({ username: 'viewer', role: 'viewer' });
    const viewer = await t.signIn('viewer');
    expect((await viewer.get(`/groups/${sales}/permissions`)).status).toBe(403);
    expect((await post(`/groups/${sales}/permissions`, { ...form(), _csrf: viewer.csrf }, viewer)).status).toBe(403);
  });
});

describe('JSON API', () => {
  /** High Deny RMD on Processes up to level 3, /Root/Engineering and below, added through the API. */
  const addDeny = () =>
    api().post('/api/v1/groups/sales/permissions').set(auth()).send({
      effect: 'deny', domain: 'processes', workspace: '/Root/Engineering', transitive: true, operations: 'rmd', level: 3, priority: 'high',
    });

  it('adds a permission in the check API shape', async () => {
    const res = await addDeny();
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toEqual({ id: res.body.id, group: 'Sales', effect: 'deny', domain: 'Processes', workspace: '/Root/Engineering', transitive: true, operations: 'RMD', level: 3, priority: 'high' });
    expect(res.headers.location).toBe(`/api/v1/permissions/${res.body.id}`);
    expect(res.headers.etag).toBe('"1"');
    // The engine sees it at once: the deny decides a check for a member.
    await t.makeUser({ username: 'sales.rep', groups: ['Sales'] });
    const check = await api().post('/api/v1/check').set(auth()).send({ user: 'sales.rep', domain: 'Processes', operation: 'M', workspace: '/Root/Engineering', level: 5 });
    expect(check.body.allowed).toBe(false);
    expect(check.body.decidedBy).toEqual(res.body);
  });

  it('defaults transitive to false, level to 0 and priority to low', async () => {
    const res = await api().post('/api/v1/groups/Sales/permissions').set(auth()).send({ effect: 'allow', domain: 'Reports', workspace: '/Root', operations: 'R' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ transitive: false, level: 0, priority: 'low', operations: 'R' });
  });

  it('lists a group’s permissions, paged', async () => {
    await salesRule();
    await addDeny();
    const res = await api().get('/api/v1/groups/SALES/permissions?limit=2').set(auth());
    expect(res.status).toBe(200);
    expect(res.body.group).toBe('Sales');
    expect(res.body.items).toHaveLength(2);
    expect(res.body.total).toBe((await perms(sales)).length);
    expect(Object.keys(res.body.items[0]).sort()).toEqual(['domain', 'effect', 'group', 'id', 'level', 'operations', 'priority', 'transitive', 'workspace']);
    expect((await api().get('/api/v1/groups/Nobody/permissions').set(auth())).status).toBe(404);
    expect((await api().get('/api/v1/groups/Sales/permissions?sort=x').set(auth())).status).toBe(400);
  });

  it('refuses unknown fields (naming them), wrong types and invalid combinations; writes nothing', async () => {
    const n = (await perms(sales)).length;
    const send = (body: unknown) => api().post('/api/v1/groups/Sales/permissions').set(auth()).send(body as object);
    const good = { effect: 'allow', domain: 'Files', workspace: '/Root/Sales', operations: 'R' };
    const unknown = await send({ ...good, colour: 'red' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toBe('Unknown field: colour.');
    const typed: Array<[Record<string, unknown>, number, string]> = [
      [{ ...good, transitive: 'yes' }, 422, 'transitive'],
      [{ ...good, level: '3' }, 422, 'level'],
      [{ ...good, level: 1.5 }, 422, 'level'],
      [{ ...good, operations: 'RX' }, 422, 'operations'],
      [{ ...good, operations: 'RMCDR' }, 422, 'operations'],
      [{ ...good, effect: 'permit' }, 422, 'effect'],
      [{ ...good, priority: 'urgent' }, 422, 'priority'],
      [{ ...good, domain: undefined }, 422, 'domain'],
      [{ ...good, operations: '' }, 422, 'ops'],
      [{ ...good, operations: 'RR' }, 422, 'ops'],
      [{ ...good, level: 2 }, 422, 'level'],
      [{ ...good, domain: 'Nonsense' }, 422, 'domain'],
      [{ ...good, workspace: '/Root/Nowhere' }, 422, 'workspace'],
      [{ ...good, workspace: 999999 }, 422, 'workspace'],
      [{ ...good, workspace: '<script>x</script>' }, 422, 'workspace'],
      [{ ...good, domain: 'x'.repeat(5000) }, 422, 'domain'],
    ];
    for (const [body, status, field] of typed) {
      const res = await send(body);
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect(Object.keys(res.body.error.details.fields), JSON.stringify(body).slice(0, 80)).toContain(field);
    }
    expect((await send([good])).status).toBe(400);
    // A form body is not JSON: 415, not silently read as nothing.
    expect((await send('effect=allow')).status).toBe(415);
    const dupOf = await send(good);
    expect(dupOf.status).toBe(201);
    const dup = await send(good);
    expect(dup.status).toBe(422);
    expect(dup.body.error.details.fields.rule).toContain(`#${dupOf.body.id}`);
    expect((await perms(sales)).length).toBe(n + 1);
  });

  it('gets, patches (with If-Match) and deletes one permission', async () => {
    const created = (await addDeny()).body;
    const got = await api().get(`/api/v1/permissions/${created.id}`).set(auth());
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created);
    const etag = got.headers.etag;
    const patched = await api().patch(`/api/v1/permissions/${created.id}`).set(auth()).set('If-Match', etag).send({ operations: 'R', priority: 'low' });
    expect(patched.status).toBe(200);
    expect(patched.body).toEqual({ ...created, operations: 'R', priority: 'low' });
    expect(patched.headers.etag).toBe('"2"');
    const stale = await api().patch(`/api/v1/permissions/${created.id}`).set(auth()).set('If-Match', etag).send({ operations: 'RM' });
    expect(stale.status).toBe(409);
    // Moving the domain away from Processes without a level resets it to 0; with a level it is refused.
    const toFiles = await api().patch(`/api/v1/permissions/${created.id}`).set(auth()).send({ domain: 'Files' });
    expect(toFiles.body).toMatchObject({ domain: 'Files', level: 0 });
    const badLevel = await api().patch(`/api/v1/permissions/${created.id}`).set(auth()).send({ level: 4 });
    expect(badLevel.status).toBe(422);
    expect(badLevel.body.error.details.fields.level).toContain('Levels apply only to Processes');
    const unknown = await api().patch(`/api/v1/permissions/${created.id}`).set(auth()).send({ group: 'Other' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toContain('group');
    // Nothing to change is a value the operation refuses (422); a malformed If-Match, a malformed request (400).
    expect((await api().patch(`/api/v1/permissions/${created.id}`).set(auth()).send({})).status).toBe(422);
    expect((await api().patch(`/api/v1/permissions/${created.id}`).set(auth()).set('If-Match', 'garbage').send({ level: 0 })).status).toBe(400);
    const gone = await api().delete(`/api/v1/permissions/${created.id}`).set(auth());
    expect(gone.status).toBe(200);
    expect(gone.body.deleted.id).toBe(created.id);
    expect((await api().get(`/api/v1/permissions/${created.id}`).set(auth())).status).toBe(404);
    expect((await api().delete(`/api/v1/permissions/${created.id}`).set(auth())).status).toBe(404);
    expect((await api().get('/api/v1/permissions/abc').set(auth())).status).toBe(404);
  });
});
