import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually';
import { createTestApp, csrfFrom, type TestApp } from '../support/app';
import { createApp, type GatehouseApp } from '../../src/app';
import { createDb, type Db } from '../../src/db/connect';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as userService from '../../src/users/service';
import { headPosition, recordChange } from '../../src/changes/service';
import * as access from '../../src/access/service';
import { OPERATIONS } from '../../src/access/catalog';

/**
 * POST /api/v1/check, /check/batch and GET /users/:username/effective-permissions, on a file database so a
 * second app instance (its own connection, its own cache) can share it.
 *
 *   /Root ─ Sales ─ EMEA ─ Berlin
 *        └ HR
 */
let t: TestApp;
let token: string;
let sqliteFile: string | undefined;
const ws: Record<string, number> = {};
const groups: Record<string, number> = {};
const rules: Record<string, number> = {};

interface RuleSpec {
  group: string;
  effect: 'allow' | 'deny';
  /** The domain's name. */
  domain: string;
  /** The workspace's path. */
  workspace: string;
  transitive?: boolean;
  ops: string;
  level?: number;
  priority: 'high' | 'low';
}

/** A domain permission made by the permissions service (it bumps access_version); remembered by name. */
async function addRule(name: string, r: RuleSpec): Promise<number> {
  const made = await t.make.grant(r.group, { effect: r.effect, domain: r.domain, workspace: r.workspace, transitive: r.transitive, operations: r.ops, level: r.level, priority: r.priority });
  rules[name] = made.id;
  return made.id;
}

function check(body: unknown, app: TestApp['server'] = t.server) {
  return request(app).post('/api/v1/check').set('Authorization', `Bearer ${token}`).send(body as object);
}

beforeAll(async () => {
  if (!process.env.DATABASE_URL) sqliteFile = path.join(os.tmpdir(), `gatehouse-check-${randomBytes(4).toString('hex')}.sqlite`);
  t = await createTestApp(sqliteFile ? { sqliteFile } : {});
  await t.makeUser({ username: 'admin', role: 'superuser' });
  token = await t.token('admin');
  for (const u of ['alice', 'bob', 'carol', 'dave', 'erin']) await t.makeUser({ username: u, role: 'analyst' });
  await t.makeUser({ username: 'pm', role: 'analyst', license: 'project_manager' });
  await t.makeUser({ username: 'viewer1', role: 'analyst', license: 'process_viewer' });
  await t.makeUser({ username: 'gone', role: 'analyst', status: 'deactivated' });
  await t.makeUser({ username: 'locked1', role: 'analyst' });
  // Nothing in the product locks an account any more (sign-in throttling pauses guesses instead), nor leaves
  // one without a license: both written directly, after a check has put the account in the decision state.
  await t.makeUser({ username: 'nolicense', role: 'analyst' });
  for (const u of ['locked1', 'nolicense']) await check({ user: u, domain: 'Files', operation: 'R', workspace: '/Root' });
  await t.make.writeUserRow('locked1', { locked_until: Date.now() + 3600_000 });
  await t.make.writeUserRow('nolicense', { license_type_id: null });

  for (const [key, path] of [['root', '/Root'], ['sales', '/Root/Sales'], ['emea', '/Root/Sales/EMEA'], ['berlin', '/Root/Sales/EMEA/Berlin'], ['hr', '/Root/HR']]) {
    ws[key] = (await t.make.makeWorkspace(path)).id;
  }

  groups.Stages = (await t.make.makeGroup('Stages', ['alice', 'gone', 'locked1', 'nolicense'])).id;
  groups.Editors = (await t.make.makeGroup('Editors', ['bob', 'carol', 'pm', 'viewer1'])).id;
  groups.Blocked = (await t.make.makeGroup('Blocked', ['carol'])).id;
  groups.Levels = (await t.make.makeGroup('Levels', ['dave'])).id;

  // The Stages example: transitive Low Deny on the root + non-transitive High Allow on the root.
  await addRule('stagesDeny', { group: 'Stages', effect: 'deny', domain: 'Files', workspace: '/Root', transitive: true, ops: 'R', priority: 'low' });
  await addRule('stagesAllow', { group: 'Stages', effect: 'allow', domain: 'Files', workspace: '/Root', ops: 'R', priority: 'high' });
  // Editors may read and modify processes below Sales; Blocked (carol) is denied EMEA and below with High.
  await addRule('editors', { group: 'Editors', effect: 'allow', domain: 'Processes', workspace: '/Root/Sales', transitive: true, ops: 'RM', level: 9, priority: 'low' });
  await addRule('blocked', { group: 'Blocked', effect: 'deny', domain: 'Processes', workspace: '/Root/Sales/EMEA', transitive: true, ops: 'RMCD', priority: 'high' });
  // Levels: allowed up to level 6, denied from level 4 with High only in HR.
  await addRule('levelAllow', { group: 'Levels', effect: 'allow', domain: 'Processes', workspace: '/Root', transitive: true, ops: 'R', level: 6, priority: 'low' });
  await addRule('levelDeny', { group: 'Levels', effect: 'deny', domain: 'Processes', workspace: '/Root/HR', ops: 'R', level: 4, priority: 'high' });
});

afterAll(async () => {
  await t?.close();
  if (sqliteFile) for (const f of [sqliteFile, `${sqliteFile}-wal`, `${sqliteFile}-shm`]) fs.rmSync(f, { force: true });
});

describe('POST /api/v1/check', () => {
  it('answers the Stages example with the decision, its reason, the deciding permission and every match', async () => {
    const root = await check({ user: 'alice', domain: 'Files', operation: 'R', workspace: '/Root' });
    expect(root.status).toBe(200);
    expect(Object.keys(root.body).sort()).toEqual(['allowed', 'decidedBy', 'explanation', 'matched', 'reason']);
    expect(root.body).toMatchObject({ allowed: true, reason: 'rule' });
    expect(root.body.decidedBy).toEqual({
      id: rules.stagesAllow,
      group: 'Stages',
      effect: 'allow',
      domain: 'Files',
      workspace: '/Root',
      transitive: false,
      operations: 'R',
      level: 0,
      priority: 'high',
    });
    expect(root.body.matched.map((m: { id: number }) => m.id)).toEqual([rules.stagesAllow, rules.stagesDeny]);
    expect(root.body.matched[1]).toMatchObject({ effect: 'deny', priority: 'low', transitive: true, workspace: '/Root' });
    expect(root.body.explanation).toMatch(/^Allowed: alice may read Files at \/Root, decided by High Allow #\d+ of group Stages/);

    for (const w of ['/Root/Sales', '/Root/Sales/EMEA/Berlin', '/Root/HR']) {
      const below = await check({ user: 'alice', domain: 'Files', operation: 'R', workspace: w });
      expect(below.body, w).toMatchObject({ allowed: false, reason: 'rule', decidedBy: { id: rules.stagesDeny } });
      expect(below.body.matched).toHaveLength(1);
    }
  });

  it('denies by default what no permission grants', async () => {
    const res = await check({ user: 'alice', domain: 'Files', operation: 'M', workspace: '/Root' });
    expect(res.body).toEqual({ allowed: false, reason: 'default', decidedBy: null, matched: [], explanation: expect.stringContaining('Denied by default') });
  });

  it('applies transitive scope and precedence across groups', async () => {
    const q = (user: string, workspace: string, operation = 'R') => check({ user, domain: 'Processes', operation, workspace });
    expect((await q('bob', '/Root/Sales')).body).toMatchObject({ allowed: true, decidedBy: { id: rules.editors, group: 'Editors', operations: 'RM', level: 9 } });
    expect((await q('bob', '/Root/Sales/EMEA/Berlin', 'M')).body.allowed).toBe(true);
    expect((await q('bob', '/Root')).body.reason).toBe('default');
    expect((await q('bob', '/Root/HR')).body.reason).toBe('default');
    // carol is in Editors and Blocked: the High Deny beats the Low Allow from EMEA down, not above.
    expect((await q('carol', '/Root/Sales')).body.allowed).toBe(true);
    const emea = (await q('carol', '/Root/Sales/EMEA')).body;
    expect(emea).toMatchObject({ allowed: false, reason: 'rule', decidedBy: { id: rules.blocked, group: 'Blocked' } });
    expect(emea.matched.map((m: { id: number }) => m.id)).toEqual([rules.blocked, rules.editors]);
  });

  it('uses element levels for Processes: allow up to its level, deny from its level', async () => {
    const q = (workspace: string, level?: number) => check({ user: 'dave', domain: 'processes', operation: 'R', workspace, ...(level === undefined ? {} : { level }) });
    expect((await q('/Root/Sales')).body.allowed).toBe(true);
    expect((await q('/Root/Sales', 6)).body.allowed).toBe(true);
    expect((await q('/Root/Sales', 7)).body.reason).toBe('default');
    expect((await q('/Root/HR', 3)).body.allowed).toBe(true);
    expect((await q('/Root/HR', 4)).body).toMatchObject({ allowed: false, reason: 'rule', decidedBy: { id: rules.levelDeny } });
    // Domains without levels ignore the level.
    expect((await check({ user: 'alice', domain: 'Files', operation: 'R', workspace: '/Root', level: 9 })).body.allowed).toBe(true);
  });

  it('caps an allow by the license', async () => {
    const pmRead = await check({ user: 'pm', domain: 'Processes', operation: 'R', workspace: '/Root/Sales' });
    expect(pmRead.body.allowed).toBe(true);
    const pmModify = await check({ user: 'pm', domain: 'Processes', operation: 'M', workspace: '/Root/Sales' });
    expect(pmModify.body).toMatchObject({ allowed: false, reason: 'license', decidedBy: { id: rules.editors } });
    expect(pmModify.body.explanation).toContain('Project manager');
    const viewerModify = await check({ user: 'viewer1', domain: 'Processes', operation: 'M', workspace: '/Root/Sales' });
    expect(viewerModify.body.reason).toBe('license');
  });

  it.each([
    ['gone', /deactivated/],
    ['locked1', /locked until/],
    ['nolicense', /no license/],
  ])('denies %s for the account whatever the permissions say', async (user, text) => {
    const res = await check({ user, domain: 'Files', operation: 'R', workspace: '/Root' });
    expect(res.body).toMatchObject({ allowed: false, reason: 'account', decidedBy: null, matched: [] });
    expect(res.body.explanation).toMatch(text);
  });

  it('reads user, domain (name or key) and workspace path case-insensitively', async () => {
    for (const [domain, workspace, user] of [
      ['FILES', '/root', 'ALICE'],
      ['files', '/ROOT/', 'Alice'],
      ['Process Import/Export', '/Root/Sales/emea', 'alice'],
      ['process_import_export', 'Sales/EMEA', 'alice'],
    ]) {
      const res = await check({ user, domain, operation: 'r', workspace });
      expect(res.status, `${domain} ${workspace}`).toBe(200);
    }
  });

  it('sees a user change on the next check without any rebuild (users are not cached)', async () => {
    await t.makeUser({ username: 'frank' });
    expect((await check({ user: 'frank', domain: 'Files', operation: 'R', workspace: '/Root' })).body.reason).toBe('default');
    await t.make.addMembers('Stages', ['frank']);
    expect((await check({ user: 'frank', domain: 'Files', operation: 'R', workspace: '/Root' })).body.allowed).toBe(true);
    await userService.setStatus(t.db, SYSTEM_ACTOR, await t.make.userId('frank'), 'deactivated');
    expect((await check({ user: 'frank', domain: 'Files', operation: 'R', workspace: '/Root' })).body.reason).toBe('account');
  });

  it.each([
    [{ user: 'nobody', domain: 'Files', operation: 'R', workspace: '/Root' }, 'user', /nobody/],
    [{ user: 'alice', domain: 'Spreadsheets', operation: 'R', workspace: '/Root' }, 'domain', /Spreadsheets/],
    [{ user: 'alice', domain: 'Files', operation: 'R', workspace: '/Root/Nowhere' }, 'workspace', /Nowhere/],
    [{ user: 'alice', domain: 'Files', operation: 'R', workspace: '/Sales' }, 'workspace', /Sales/],
    [{ user: "alice' OR '1'='1", domain: 'Files', operation: 'R', workspace: '/Root' }, 'user', /OR/],
    [{ user: '<script>alert(1)</script>', domain: 'Files', operation: 'R', workspace: '/Root' }, 'user', /script/],
    [{ user: 'ålice🙂', domain: 'Files', operation: 'R', workspace: '/Root' }, 'user', /ålice/],
    [{ user: 'alice', domain: 'Files; DROP TABLE users', operation: 'R', workspace: '/Root' }, 'domain', /DROP/],
  ])('answers 422 on the field naming a user, domain or workspace that does not exist: %j', async (body, field, message) => {
    const res = await check(body);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('validation_failed');
    expect(res.body.error.details.fields[field]).toMatch(message);
  });

  it.each([
    [{}, 'user'],
    [{ domain: 'Files', operation: 'R', workspace: '/Root' }, 'user'],
    [{ user: '', domain: 'Files', operation: 'R', workspace: '/Root' }, 'user'],
    [{ user: 'x'.repeat(65), domain: 'Files', operation: 'R', workspace: '/Root' }, 'user'],
    [{ user: 'alice', operation: 'R', workspace: '/Root' }, 'domain'],
    [{ user: 'alice', domain: 'Files', operation: 'X', workspace: '/Root' }, 'operation'],
    [{ user: 'alice', domain: 'Files', operation: 'RM', workspace: '/Root' }, 'operation'],
    [{ user: 'alice', domain: 'Files', workspace: '/Root' }, 'operation'],
    [{ user: 'alice', domain: 'Files', operation: 'R' }, 'workspace'],
    [{ user: 'alice', domain: 'Files', operation: 'R', workspace: { path: '/Root' } }, 'workspace'],
    [{ user: 'alice', domain: 'Processes', operation: 'R', workspace: '/Root', level: 10 }, 'level'],
    [{ user: 'alice', domain: 'Processes', operation: 'R', workspace: '/Root', level: -1 }, 'level'],
    [{ user: 'alice', domain: 'Processes', operation: 'R', workspace: '/Root', level: 2.5 }, 'level'],
    [{ user: 'alice', domain: 'Processes', operation: 'R', workspace: '/Root', level: 'high' }, 'level'],
    [{ user: 42, domain: 'Files', operation: 'R', workspace: '/Root' }, 'user'],
  ])('answers 422 naming the field for %j', async (body, field) => {
    const res = await check(body);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('validation_failed');
    expect(Object.keys(res.body.error.details.fields)).toContain(field);
  });

  it('answers 400 for an unknown field', async () => {
    const res = await check({ user: 'alice', domain: 'Files', operation: 'R', workspace: '/Root', extra: 1 });
    expect(res.status).toBe(400);
    expect(Object.keys(res.body.error.details.fields)).toContain('extra');
  });

  it('answers 400 for a body that is not a JSON object', async () => {
    const bad = await request(t.server).post('/api/v1/check').set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send('{"user": ');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('malformed_body');
    const array = await check([{ user: 'alice' }]);
    expect(array.status).toBe(400);
    expect(array.body.error.code).toBe('malformed_body');
  });

  it('refuses callers without a token (401) and roles without access.manage (403)', async () => {
    expect((await request(t.server).post('/api/v1/check').send({ user: 'alice', domain: 'Files', operation: 'R', workspace: '/Root' })).status).toBe(401);
    await t.make.makeRole('API reader', { permissions: ['api.access', 'users.manage'] });
    await t.makeUser({ username: 'apireader', role: 'API reader' });
    const other = await t.token('apireader');
    const res = await request(t.server).post('/api/v1/check').set('Authorization', `Bearer ${other}`).send({ user: 'alice', domain: 'Files', operation: 'R', workspace: '/Root' });
    expect(res.status).toBe(403);
    const grid = await request(t.server).get('/api/v1/users/alice/effective-permissions').set('Authorization', `Bearer ${other}`);
    expect(grid.status).toBe(403);
  });
});

describe('POST /api/v1/check/batch', () => {
  function batch(body: unknown) {
    return request(t.server).post('/api/v1/check/batch').set('Authorization', `Bearer ${token}`).send(body as object);
  }

  it('answers every check in order, with errors inline for what does not exist', async () => {
    const res = await batch({
      checks: [
        { user: 'alice', domain: 'Files', operation: 'R', workspace: '/Root' },
        { user: 'alice', domain: 'Files', operation: 'R', workspace: '/Root/Sales' },
        { user: 'nobody', domain: 'Files', operation: 'R', workspace: '/Root' },
        { user: 'carol', domain: 'Processes', operation: 'R', workspace: '/Root/Sales/EMEA' },
        { user: 'alice', domain: 'Files', operation: 'R', workspace: '/Root/Nowhere' },
        { user: 'PM', domain: 'Processes', operation: 'M', workspace: '/Root/Sales', level: 1 },
      ],
    });
    expect(res.status).toBe(200);
    const r = res.body.results;
    expect(r).toHaveLength(6);
    expect(r[0]).toMatchObject({ allowed: true, reason: 'rule', decidedBy: { id: rules.stagesAllow } });
    expect(r[1]).toMatchObject({ allowed: false, decidedBy: { id: rules.stagesDeny } });
    expect(r[2]).toEqual({ error: expect.objectContaining({ status: 422, code: 'validation_failed', details: { fields: { user: expect.stringContaining('nobody') } } }) });
    expect(r[3]).toMatchObject({ allowed: false, decidedBy: { id: rules.blocked } });
    expect(r[4].error).toMatchObject({ status: 422, details: { fields: { workspace: expect.stringContaining('Nowhere') } } });
    expect(r[5]).toMatchObject({ allowed: false, reason: 'license' });
  });

  it('answers long batches asked at once each in full (an answer is written into the memory of one already sent)', async () => {
    const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'nobody'];
    const paths = ['/Root', '/Root/Sales', '/Root/Sales/EMEA', '/Root/Sales/EMEA/Berlin', '/Root/HR', '/Root/Nowhere'];
    const bodies = Array.from({ length: 6 }, (_, b) => ({
      checks: Array.from({ length: 1000 - b * 50 }, (_, i) => ({ user: users[(i + b) % users.length], domain: i % 3 ? 'Files' : 'Processes', operation: 'RMCD'[(i >> 1) % 4], workspace: paths[(i * 7 + b) % paths.length] })),
    }));
    const expected: string[] = [];
    for (const body of bodies) {
      const res = await batch(body);
      expect(res.status).toBe(200);
      expected.push(res.text);
    }
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all(bodies.map((body) => batch(body)));
      answers.forEach((res, b) => expect(res.text, `batch ${b}, round ${round}`).toBe(expected[b]));
    }
    expect(JSON.parse(expected[0]).results).toHaveLength(1000);
  });

  it('refuses a batch holding a malformed question, naming it, and decides nothing', async () => {
    const res = await batch({
      checks: [
        { user: 'alice', domain: 'Files', operation: 'R', workspace: '/Root' },
        { user: 'alice', domain: 'Files', operation: 'Z', workspace: '/Root' },
        'not an object',
      ],
    });
    expect(res.status).toBe(422);
    expect(Object.keys(res.body.error.details.fields)).toEqual(expect.arrayContaining(['checks.1.operation', 'checks.2']));
  });

  it('gives the same answers as single checks', async () => {
    const checks = [];
    for (const user of ['alice', 'bob', 'carol', 'dave', 'pm', 'viewer1', 'gone'])
      for (const workspace of ['/Root', '/Root/Sales/EMEA', '/Root/HR'])
        for (const operation of OPERATIONS) checks.push({ user, domain: 'Processes', operation, workspace, level: 5 });
    const res = await batch({ checks });
    for (let i = 0; i < checks.length; i++) {
      const single = await check(checks[i]);
      expect(res.body.results[i], JSON.stringify(checks[i])).toEqual(single.body);
    }
  });

  it('accepts 1,000 checks and refuses more, an empty list, or no list', async () => {
    const one = { user: 'alice', domain: 'Files', operation: 'R', workspace: '/Root' };
    const full = await batch({ checks: Array.from({ length: 1000 }, () => one) });
    expect(full.status).toBe(200);
    expect(full.body.results).toHaveLength(1000);
    for (const body of [{ checks: Array.from({ length: 1001 }, () => one) }, { checks: [] }, {}, { checks: 'all' }, { checks: [one], more: true }]) {
      const res = await batch(body);
      // An unknown field is a 400; a list that is missing, empty, too long or not a list, a 422.
      expect(res.status, JSON.stringify(body).slice(0, 60)).toBe('more' in body ? 400 : 422);
      expect(res.body.error.code).toBe('validation_failed');
    }
  });
});

describe('GET /api/v1/users/:username/effective-permissions', () => {
  function grid(user: string, query = '') {
    return request(t.server).get(`/api/v1/users/${encodeURIComponent(user)}/effective-permissions${query}`).set('Authorization', `Bearer ${token}`);
  }

  it('answers domains × R/M/C/D with the decision of each cell', async () => {
    const res = await grid('carol', '?workspace=/Root/Sales');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ user: 'carol', workspace: '/Root/Sales', level: 0 });
    expect(res.body.domains).toHaveLength(20);
    const processes = res.body.domains.find((d: { key: string }) => d.key === 'processes');
    expect(processes).toMatchObject({ domain: 'Processes', usesLevels: true, allowed: 'RM' });
    expect(processes.operations.R).toMatchObject({ allowed: true, reason: 'rule', decidedBy: { id: rules.editors } });
    expect(processes.operations.C).toMatchObject({ allowed: false, reason: 'default' });
    const emea = await grid('carol', '?workspace=/Root/Sales/EMEA');
    expect(emea.body.domains.find((d: { key: string }) => d.key === 'processes').allowed).toBe('');
  });

  it('honours the level and defaults to the root', async () => {
    const high = await grid('dave', '?workspace=/Root/HR&level=5');
    expect(high.body.domains.find((d: { key: string }) => d.key === 'processes').operations.R).toMatchObject({ allowed: false, decidedBy: { id: rules.levelDeny } });
    const byId = await grid('carol', `?workspace=${ws.sales}`);
    expect(byId.body.workspace).toBe('/Root/Sales');
    const root = await grid('alice');
    expect(root.body.workspace).toBe('/Root');
    expect(root.body.domains.find((d: { key: string }) => d.key === 'files').allowed).toBe('R');
  });

  it('answers 404 for an unknown user (in the path), 422 for an unknown workspace or a bad level, 400 for an unknown parameter', async () => {
    const nobody = await grid('nobody', '?workspace=/Root');
    expect(nobody.status).toBe(404);
    expect(nobody.body.error).toMatchObject({ code: 'not_found', details: { type: 'user' } });
    const nowhere = await grid('alice', '?workspace=/Root/Nowhere');
    expect(nowhere.status).toBe(422);
    expect(nowhere.body.error.details.fields.workspace).toContain('Nowhere');
    expect((await grid('alice', '?level=12')).status).toBe(422);
    expect((await grid('alice', '?colour=blue')).status).toBe(400);
  });
});

describe('the reverse view (who may)', () => {
  it('agrees with deciding for every user, and pages', async () => {
    // Every class in play in Reports: Low Allow minus Low Deny, High Allow, High Deny, across groups.
    groups.Readers = (await t.make.makeGroup('Readers', ['alice', 'bob', 'dave'])).id;
    await addRule('readersLA', { group: 'Readers', effect: 'allow', domain: 'Reports', workspace: '/Root', transitive: true, ops: 'R', priority: 'low' });
    await addRule('stagesLD', { group: 'Stages', effect: 'deny', domain: 'Reports', workspace: '/Root/Sales', transitive: true, ops: 'R', priority: 'low' });
    await addRule('levelsHA', { group: 'Levels', effect: 'allow', domain: 'Reports', workspace: '/Root/Sales/EMEA', ops: 'R', priority: 'high' });
    await addRule('editorsHD', { group: 'Editors', effect: 'deny', domain: 'Reports', workspace: '/Root/HR', ops: 'R', priority: 'high' });
    const all = (await t.db('users').select('username')).map((u: { username: string }) => u.username);
    for (const q of [
      { domain: 'Processes', op: 'R' as const, workspace: '/Root/Sales/EMEA', level: 0 },
      { domain: 'Processes', op: 'M' as const, workspace: '/Root/Sales', level: 0 },
      { domain: 'Processes', op: 'R' as const, workspace: '/Root/HR', level: 5 },
      { domain: 'Files', op: 'R' as const, workspace: '/Root', level: 0 },
      { domain: 'Files', op: 'R' as const, workspace: '/Root/Sales', level: 0 },
      { domain: 'Reports', op: 'D' as const, workspace: '/Root', level: 0 },
      { domain: 'Reports', op: 'R' as const, workspace: '/Root/Sales/EMEA', level: 0 },
      { domain: 'Reports', op: 'R' as const, workspace: '/Root/HR', level: 0 },
      { domain: 'Reports', op: 'R' as const, workspace: '/Root', level: 0 },
    ]) {
      const expected = new Set<string>();
      for (const u of all) {
        const d = await access.check(t.db, { user: u, domain: q.domain, operation: q.op, workspace: q.workspace, level: q.level });
        if (d.allowed) expected.add(u);
      }
      const yes = await access.whoMay(t.db, q.domain, q.op, q.workspace, { allowed: true, limit: 100, offset: 0, level: q.level });
      const no = await access.whoMay(t.db, q.domain, q.op, q.workspace, { allowed: false, limit: 100, offset: 0, level: q.level });
      const label = JSON.stringify(q);
      expect(new Set(yes.users.map((u) => u.username)), label).toEqual(expected);
      expect(yes.total + no.total, label).toBe(all.length);
      expect(new Set(no.users.map((u) => u.username)), label).toEqual(new Set(all.filter((u) => !expected.has(u))));
      expect(yes.users.every((u) => u.decision.allowed)).toBe(true);
      expect(no.users.every((u) => !u.decision.allowed)).toBe(true);
    }
    const emea = await access.whoMay(t.db, 'Reports', 'R', '/Root/Sales/EMEA', { allowed: true, limit: 100, offset: 0 });
    expect(emea.users.map((u) => u.username).sort()).toEqual(['bob', 'dave']);
    const hr = await access.whoMay(t.db, 'Reports', 'R', '/Root/HR', { allowed: true, limit: 100, offset: 0 });
    expect(hr.users.map((u) => u.username).sort()).toEqual(['alice', 'dave']);
    const page1 = await access.whoMay(t.db, 'Files', 'R', '/Root/Sales', { allowed: false, limit: 3, offset: 0 });
    const page2 = await access.whoMay(t.db, 'Files', 'R', '/Root/Sales', { allowed: false, limit: 3, offset: 3 });
    expect(page1.users).toHaveLength(3);
    expect(page1.users.map((u) => u.username)).toEqual([...page1.users.map((u) => u.username)].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase())));
    expect(page2.users.map((u) => u.id)).not.toContain(page1.users[0].id);
    const searched = await access.whoMay(t.db, 'Files', 'R', '/Root', { allowed: true, limit: 10, offset: 0, q: 'ali' });
    expect(searched.users.map((u) => u.username)).toEqual(['alice']);
  });
});

describe('two servers on one database', () => {
  let second: GatehouseApp;
  let secondDb: Db;
  beforeAll(async () => {
    // Its own connection pool and its own cached index, like a second process.
    secondDb = createDb(t.config);
    second = await createApp(t.config, { db: secondDb });
  });
  afterAll(async () => {
    await second?.close();
    await secondDb?.destroy();
  });

  it('a permission added through one is seen by the other at once with the write’s consistency token, and soon without', async () => {
    const server2 = second.app.callback();
    await t.makeUser({ username: 'reporter' });
    await t.make.makeGroup('Reporters', ['reporter']);
    const q = { user: 'reporter', domain: 'Reports', operation: 'C', workspace: '/Root/HR' };
    // The user and group were made on the first server: the second answers once it has them.
    expect((await check(q, server2).set('Gatehouse-Consistency-Token', String(await headPosition(t.db)))).body.reason).toBe('default');
    expect((await check(q, t.server)).body.reason).toBe('default');
    const added = await request(t.server)
      .post('/api/v1/groups/Reporters/permissions')
      .set('Authorization', `Bearer ${token}`)
      .send({ effect: 'allow', domain: 'Reports', workspace: '/Root/HR', operations: 'C', priority: 'low' });
    expect(added.status, JSON.stringify(added.body)).toBe(201);
    const consistency = added.headers['gatehouse-consistency-token'];
    expect(consistency).toMatch(/^[0-9]+$/);
    const seen = await check(q, server2).set('Gatehouse-Consistency-Token', consistency);
    expect(seen.body).toMatchObject({ allowed: true, decidedBy: { id: added.body.id, group: 'Reporters', workspace: '/Root/HR', operations: 'C' } });
    expect(Number(seen.headers['gatehouse-consistency-token'])).toBeGreaterThanOrEqual(Number(consistency));
    // The same token in the body; and a third check without any token is answered from the same state.
    expect((await check({ ...q, consistencyToken: consistency }, server2)).body.allowed).toBe(true);
    expect((await check(q, server2)).body.allowed).toBe(true);
  });

  it('a workspace renamed through one server’s page is found by its new path on the other', async () => {
    const server2 = second.app.callback();
    const nordics = (await t.make.makeWorkspace('/Root/Sales/Nordics')).id;
    const ok = { user: 'bob', domain: 'Processes', operation: 'R', workspace: '/Root/Sales/Nordics' };
    expect((await check(ok, server2).set('Gatehouse-Consistency-Token', String(await headPosition(t.db)))).body.allowed).toBe(true);
    const agent = await t.signIn('admin');
    const page = await agent.get(`/workspaces/${nordics}`);
    expect(page.status).toBe(200);
    const version = /name="version" value="(\d+)"/.exec(page.text)?.[1];
    const res = await agent
      .post(`/workspaces/${nordics}/rename`)
      .type('form')
      .send({ _csrf: csrfFrom(page.text), name: 'Scandinavia', ...(version ? { version } : {}) });
    expect(res.status).toBeLessThan(400);
    expect((await t.db('workspaces').where({ id: nordics }).first('name')).name).toBe('Scandinavia');
    // The console answers no token: the other server follows the change log on its own within its poll interval.
    const renamed = await eventually(() => check({ ...ok, workspace: '/Root/Sales/Scandinavia' }, server2), (r) => r.status === 200);
    expect((await check(ok, server2)).status).toBe(422);
    expect(renamed.body).toMatchObject({ allowed: true, decidedBy: { id: rules.editors } });
    expect(renamed.body.explanation).toContain('/Root/Sales/Scandinavia');
  });

  it('a write that records no change is not seen: decisions really come from memory', async () => {
    const server2 = second.app.callback();
    await t.makeUser({ username: 'commenter' });
    const probe = (await t.make.makeGroup('Cache probe', ['commenter'])).id;
    const q = { user: 'commenter', domain: 'Comments', operation: 'R', workspace: '/Root' };
    // The user and group were made on the first server: the second answers once it has them.
    expect((await check(q, server2).set('Gatehouse-Consistency-Token', String(await headPosition(t.db)))).body.reason).toBe('default');
    // Deliberately past the service: a write that forgets to bump the counter.
    const now = Date.now();
    const domain = await t.db('domains').where({ key: 'comments' }).first('id');
    await t.db('domain_permissions').insert({
      group_id: probe, effect: 'allow', domain_id: domain.id, workspace_id: ws.root, transitive: false,
      can_read: true, can_modify: false, can_create: false, can_delete: false, level: 0, priority: 'low', created_at: now, updated_at: now,
    });
    // Even at the newest position the other server does not see it: it answers from memory.
    const head = String(await headPosition(t.db));
    expect((await check(q, server2).set('Gatehouse-Consistency-Token', head)).body.reason).toBe('default');
    expect((await check(q, t.server)).body.reason).toBe('default');
    const position = await recordChange(t.db, { kind: 'rule', id: Number((await t.db('domain_permissions').max({ id: 'id' }).first())!.id) });
    expect((await check(q, server2).set('Gatehouse-Consistency-Token', String(position))).body.allowed).toBe(true);
    expect((await check(q, t.server)).body.allowed).toBe(true);
  });

  it('a consistency token the server cannot reach in time gets 503 with Retry-After, never a stale answer', async () => {
    const q = { user: 'bob', domain: 'Comments', operation: 'R', workspace: '/Root' };
    const beyond = String((await headPosition(t.db)) + 1000);
    const res = await check(q, second.app.callback()).set('Gatehouse-Consistency-Token', beyond);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.body.error.code).toBe('not_yet_consistent');
    const malformed = await check({ ...q, consistencyToken: 'soon' });
    expect(malformed.status).toBe(422);
  });
});
