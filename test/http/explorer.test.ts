import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { $, createTestApp, type Agent, type TestApp } from '../support/app';

/**
 * The access explorer (/access) and the reverse view (/access/who). They show the engine's decisions; these
 * tests check that what the page says matches POST /api/v1/check, that each cell explains itself, and that
 * bad input is answered beside its field.
 */
let t: TestApp;
let admin: Agent;
let token: string;

const api = () => request(t.server);
const auth = () => ({ Authorization: `Bearer ${token}` });

async function mkws(path: string) {
  const parts = path.split('/').filter(Boolean);
  const res = await api().post('/api/v1/workspaces').set(auth()).send({ name: parts[parts.length - 1], parent: '/' + parts.slice(0, -1).join('/') });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as number;
}

async function group(name: string, members: string[]) {
  return (await t.make.makeGroup(name, members)).id;
}

async function permit(groupName: string, body: Record<string, unknown>) {
  const res = await api().post(`/api/v1/groups/${encodeURIComponent(groupName)}/permissions`).set(auth()).send(body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: number };
}

async function check(user: string, domain: string, operation: string, workspace: string, level?: number) {
  const res = await api().post('/api/v1/check').set(auth()).send({ user, domain, operation, workspace, ...(level === undefined ? {} : { level }) });
  expect(res.status).toBe(200);
  return res.body as { allowed: boolean; reason: string; decidedBy: { id: number } | null; matched: Array<{ id: number }> };
}

function grid(html: string) {
  const doc = $(html);
  const out: Record<string, Record<string, { word: string; reason: string; href: string }>> = {};
  doc('table.access-grid tbody tr').each((_, tr) => {
    const name = doc(tr).find('th').clone().children().remove().end().text().trim();
    out[name] = {};
    doc(tr)
      .find('a.cell')
      .each((i, a) => {
        out[name]['RMCD'[i]] = { word: doc(a).find('.cell-word').text(), reason: doc(a).find('.cell-reason').text(), href: doc(a).attr('href')! };
      });
  });
  return out;
}

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'admin', role: 'superuser' });
  admin = await t.signIn('admin');
  token = await t.token('admin');
  await t.makeUser({ username: 'anna', firstName: 'Anna', lastName: 'Berg' });
  await t.makeUser({ username: 'viewer.vic', role: 'viewer' });
  await t.makeUser({ username: 'gone', status: 'deactivated' });
  await mkws('/Root/Sales');
  await mkws('/Root/Sales/EMEA');
  await group('Stages', ['anna', 'viewer.vic', 'gone']);
  // The Stages manual's example: transitive Low Deny on the root + non-transitive High Allow on the root.
  await permit('Stages', { effect: 'deny', domain: 'Processes', workspace: '/Root', transitive: true, operations: 'R', priority: 'low' });
  await permit('Stages', { effect: 'allow', domain: 'Processes', workspace: '/Root', transitive: false, operations: 'R', priority: 'high', level: 9 });
  await permit('Stages', { effect: 'allow', domain: 'Files', workspace: '/Root/Sales', transitive: true, operations: 'RMC', priority: 'low' });
});
afterAll(async () => t?.close());

describe('/access: the grid', () => {
  it('tells "denied by default" apart from "denied by a rule" at a glance: another mark and style, and a legend', async () => {
    const doc = $((await admin.get('/access?user=anna&workspace=' + encodeURIComponent('/Root/Sales/EMEA'))).text);
    const cell = (domain: string, col: number) => doc('table.access-grid tbody tr').filter((_, tr) => doc(tr).find('th').text().startsWith(domain)).find('a.cell').eq(col);
    const byRule = cell('Processes', 0);
    const byDefault = cell('Files', 3);
    expect(byRule.attr('class')).toContain('cell-denied');
    expect(byRule.find('.cell-mark').text()).toBe('✕');
    expect(byDefault.attr('class')).toContain('cell-default');
    expect(byDefault.find('.cell-mark').text()).toBe('–');
    expect(doc('.grid-legend').text()).toContain('Denied by default');
  });

  it('starts with the form only', async () => {
    const res = await admin.get('/access');
    expect(res.status).toBe(200);
    const doc = $(res.text);
    expect(doc('#f-user').attr('hx-get')).toBe('/users/suggest');
    expect(doc('#f-workspace').attr('hx-get')).toBe('/workspaces/suggest');
    expect(doc('table.access-grid').length).toBe(0);
  });

  it('shows every domain × R/M/C/D in words, matching the check API', async () => {
    const res = await admin.get('/access?user=anna&workspace=' + encodeURIComponent('/Root/Sales/EMEA'));
    expect(res.status).toBe(200);
    const g = grid(res.text);
    expect(Object.keys(g)).toHaveLength(20);
    expect(g.Files.R).toMatchObject({ word: 'Allowed', reason: 'by rule' });
    expect(g.Files.D).toMatchObject({ word: 'Denied', reason: 'by default' });
    expect(g.Processes.R).toMatchObject({ word: 'Denied', reason: 'by rule' });
    for (const [domain, cells] of Object.entries(g)) {
      for (const op of ['R', 'M', 'C', 'D']) {
        const api = await check('anna', domain, op, '/Root/Sales/EMEA');
        expect(cells[op].word, `${domain} ${op}`).toBe(api.allowed ? 'Allowed' : 'Denied');
      }
    }
    expect($(res.text)('.subject-facts').text()).toContain('Process modeler');
  });

  it('follows the Stages example: the root may be read, nothing below it', async () => {
    const root = grid((await admin.get('/access?user=anna&workspace=/Root')).text);
    expect(root.Processes.R.word).toBe('Allowed');
    const below = grid((await admin.get('/access?user=anna&workspace=/Root/Sales')).text);
    expect(below.Processes.R.word).toBe('Denied');
  });

  it('uses the element level for Processes', async () => {
    await permit('Stages', { effect: 'deny', domain: 'Processes', workspace: '/Root', transitive: false, operations: 'R', priority: 'high', level: 7 });
    expect(grid((await admin.get('/access?user=anna&workspace=/Root&level=6')).text).Processes.R.word).toBe('Allowed');
    const at7 = await admin.get('/access?user=anna&workspace=/Root&level=7');
    expect(grid(at7.text).Processes.R.word).toBe('Denied');
    expect($(at7.text)('#f-level option[selected]').text()).toBe('7');
  });

  it('defaults to the root when no workspace is chosen, and accepts the id the picker chose', async () => {
    const res = await admin.get('/access?user=ANNA');
    expect(res.status).toBe(200);
    expect($(res.text)('#grid-title code').text()).toBe('/Root');
    const emea = (await api().get('/api/v1/workspaces?q=emea').set(auth())).body.items[0].id;
    const byId = await admin.get(`/access?user=anna&workspace=${encodeURIComponent('/Root/Sales/EMEA')}&workspaceId=${emea}`);
    expect($(byId.text)('#grid-title code').text()).toBe('/Root/Sales/EMEA');
  });

  it('says why an account gets nothing, and shows license caps', async () => {
    const gone = await admin.get('/access?user=gone&workspace=/Root/Sales');
    const g = grid(gone.text);
    expect(Object.values(g).every((c) => Object.values(c).every((x) => x.word === 'Denied' && x.reason === 'account'))).toBe(true);
    expect($(gone.text)('.subject-facts').text()).toContain('Deactivated');
    const vic = grid((await admin.get('/access?user=viewer.vic&workspace=/Root/Sales')).text);
    expect(vic.Files.R).toMatchObject({ word: 'Denied', reason: 'by license' });
  });

  it('refuses bad input beside the field, never a 500', async () => {
    const cases: Array<[string, string, string]> = [
      ['user=nobody&workspace=/Root', 'user', 'There is no user "nobody"'],
      ['user=&workspace=/Root', 'user', 'Choose a user.'],
      [`user=${'a'.repeat(65)}`, 'user', 'such a long username'],
      ['user=anna&workspace=/Root/Nowhere', 'workspace', 'There is no workspace "/Root/Nowhere"'],
      ['user=anna&workspace=' + encodeURIComponent("' OR 1=1; --"), 'workspace', 'There is no workspace named'],
      ['user=anna&level=10', 'level', 'from 0 to 9'],
      ['user=anna&level=abc', 'level', 'from 0 to 9'],
      ['user=' + encodeURIComponent('<script>alert(1)</script>'), 'user', 'There is no user'],
    ];
    for (const [qs, field, message] of cases) {
      const res = await admin.get('/access?' + qs);
      expect(res.status, qs).toBe(422);
      expect($(res.text)(`#e-${field}`).text(), qs).toContain(message);
      expect(res.text).not.toContain('<script>alert(1)</script>');
    }
    const arrays = await admin.get('/access?user=anna&user=bob&workspace=/Root');
    expect(arrays.status).toBe(422);
  });

  it('swaps only the form and grid when the form is sent with htmx', async () => {
    const res = await admin.get('/access?user=anna&workspace=/Root').set('HX-Request', 'true').set('HX-Target', 'div#explorer');
    expect(res.text).not.toContain('<html');
    expect(res.text.trim().startsWith('<div id="explorer">')).toBe(true);
    expect($(res.text)('table.access-grid').length).toBe(1);
  });
});

describe('/access: the explanation of a cell', () => {
  it('explains an allow: reason, deciding permission with group and workspace, every other match', async () => {
    const res = await admin.get('/access?user=anna&workspace=/Root&domain=processes&op=R');
    expect(res.status).toBe(200);
    const doc = $(res.text);
    const x = doc('#explanation');
    expect(x.find('.verdict').text()).toContain('Allowed');
    expect(x.find('.reason-key').text()).toBe('rule');
    const api = await check('anna', 'Processes', 'R', '/Root');
    const rules = x.find('.rule');
    expect(rules.first().text()).toContain(`#${api.decidedBy!.id}`);
    expect(rules.first().text()).toContain('High Allow');
    expect(rules.first().find('a').first().text()).toBe('Stages');
    expect(rules.first().find('code').first().text()).toBe('/Root');
    expect(rules.length).toBe(api.matched.length);
    expect(x.find('h3').eq(1).text()).toBe(`Other matching permissions (${api.matched.length - 1})`);
    expect(doc('a.cell[aria-current="true"]').attr('href')).toContain('domain=processes&op=R');
  });

  it('explains a denial by rule, by default, by license and by account', async () => {
    const rule = $((await admin.get('/access?user=anna&workspace=/Root/Sales&domain=processes&op=R')).text)('#explanation');
    expect(rule.find('.verdict').text()).toContain('Denied');
    expect(rule.find('.rule').first().text()).toContain('Low Deny');
    const def = $((await admin.get('/access?user=anna&workspace=/Root/Sales&domain=reports&op=D')).text)('#explanation');
    expect(def.find('.reason-key').text()).toBe('default');
    expect(def.text()).toContain('None: no permission matched.');
    const lic = $((await admin.get('/access?user=viewer.vic&workspace=/Root/Sales&domain=files&op=M')).text)('#explanation');
    expect(lic.find('.reason-key').text()).toBe('license');
    expect(lic.text()).toContain('Process viewer: allows nothing in Files');
    expect(lic.find('.rule').first().text()).toContain('Low Allow');
    const acc = $((await admin.get('/access?user=gone&workspace=/Root&domain=files&op=R')).text)('#explanation');
    expect(acc.find('.reason-key').text()).toBe('account');
    expect(acc.find('.sentence').text()).toContain('deactivated');
  });

  it('answers a cell click with only the explanation for htmx; a bogus cell is a message, not a 500', async () => {
    const g = grid((await admin.get('/access?user=anna&workspace=/Root/Sales')).text);
    const part = await admin.get(g.Files.R.href.replace('#explanation', '')).set('HX-Request', 'true').set('HX-Target', 'section#explanation');
    expect(part.status).toBe(200);
    expect(part.text.trim().startsWith('<section id="explanation"')).toBe(true);
    expect($(part.text)('.verdict').text()).toContain('Allowed');
    const bogus = await admin.get('/access?user=anna&workspace=/Root&domain=nope&op=Z').set('HX-Request', 'true').set('HX-Target', 'section#explanation');
    expect(bogus.status).toBe(404);
    expect($(bogus.text)('.field-error').text()).toContain('That cell does not exist');
  });
});

describe('user suggestions for the explorer', () => {
  it('suggests users by username or name', async () => {
    const res = await admin.get('/users/suggest?field=user&user=ann');
    expect($(res.text)('option').attr('value')).toBe('anna');
    expect((await admin.get('/users/suggest?field=user&user=')).text.trim()).toBe('');
    expect((await admin.get('/users/suggest?field=user&user=' + encodeURIComponent('%_'))).status).toBe(200);
  });
});

describe('/access/who: the reverse view', () => {
  beforeAll(async () => {
    for (let i = 0; i < 30; i++) await t.makeUser({ username: `member${String(i).padStart(2, '0')}` });
    await group('Crowd', Array.from({ length: 30 }, (_, i) => `member${String(i).padStart(2, '0')}`));
    await permit('Crowd', { effect: 'allow', domain: 'Reports', workspace: '/Root', transitive: true, operations: 'R', priority: 'low' });
  });

  it('lists who may, paged, and who may not, with the reason', async () => {
    const res = await admin.get('/access/who?domain=reports&op=R&workspace=/Root/Sales');
    expect(res.status).toBe(200);
    const doc = $(res.text);
    expect(doc('#who-results h2').text()).toContain('Who may read in Reports at /Root/Sales');
    expect(doc('#who-results nav.tabs a').first().text()).toContain('30');
    expect(doc('#who-results tbody tr').length).toBe(25);
    expect(doc('#who-results tbody tr').first().text()).toContain('Low Allow');
    expect(doc('.pagination').text()).toContain('Page 1 of 2');
    const page2 = await admin.get('/access/who?domain=reports&op=R&workspace=/Root/Sales&page=2').set('HX-Request', 'true').set('HX-Target', 'section#who-results');
    expect(page2.text).not.toContain('<html');
    expect($(page2.text)('tbody tr').length).toBe(5);
    const not = await admin.get('/access/who?domain=reports&op=R&workspace=/Root/Sales&show=not');
    const names = $(not.text)('#who-results tbody tr td:first-child').map((_, td) => $(not.text)(td).text().trim()).get();
    expect(names).toEqual(expect.arrayContaining(['admin', 'anna', 'gone', 'viewer.vic']));
    expect($(not.text)('#who-results').text()).toContain('Account cannot be granted anything');
    // The allowed list agrees with the check API for every listed user.
    for (const row of doc('#who-results tbody tr td:first-child').get().slice(0, 5)) {
      expect((await check(doc(row).text().trim(), 'Reports', 'R', '/Root/Sales')).allowed).toBe(true);
    }
  });

  it('filters by user', async () => {
    const res = await admin.get('/access/who?domain=reports&op=R&workspace=/Root&q=member2');
    expect($(res.text)('#who-results tbody tr').length).toBe(10);
  });

  it('refuses bad questions beside the field', async () => {
    const cases: Array<[string, string, string]> = [
      ['domain=nope&op=R&workspace=/Root', 'domain', 'Choose one of the offered domains.'],
      ['domain=files&op=X&workspace=/Root', 'op', 'Choose an operation'],
      ['domain=files&op=R&workspace=/Root/Nowhere', 'workspace', 'There is no workspace'],
      ['domain=files&op=R&workspace=/Root&level=3', 'level', 'Levels apply only to Processes'],
      ['domain=processes&op=R&workspace=/Root&level=12', 'level', 'from 0 to 9'],
    ];
    for (const [qs, field, message] of cases) {
      const res = await admin.get('/access/who?' + qs);
      expect(res.status, qs).toBe(422);
      expect($(res.text)(`#e-${field}`).text(), qs).toContain(message);
    }
    const level = await admin.get('/access/who?domain=processes&op=R&workspace=/Root&level=8');
    expect(level.status).toBe(200);
    expect($(level.text)('#who-results h2').text()).toContain('element level 8');
  });

  it('is refused without access.manage', async () => {
    await t.makeUser({ username: 'plain', role: 'analyst' });
    const plain = await t.signIn('plain');
    for (const url of ['/access', '/access/who', '/users/suggest?field=user&user=a']) expect((await plain.get(url)).status, url).toBe(403);
  });
});
