import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { createTestApp, type TestApp } from '../support/app';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as workspaceService from '../../src/workspaces/service';

/**
 * Issue 9: every rule that reads and then writes, fired at by conflicting requests at the same moment. On
 * MariaDB these race for real (SQLite serialises writers, so there the suite checks the answers only).
 * Each rule: at least 20 requests at once, repeated; afterwards no invariant is broken, no answer is a
 * 5xx, and every refused request says why.
 */
const PARALLEL = 20;
const ROUNDS = 3;

let t: TestApp;
let rootToken: string;
let serial = 0;
const unique = (prefix: string) => `${prefix}${++serial}x${Math.random().toString(36).slice(2, 7)}`;

function api(method: 'get' | 'post' | 'patch' | 'put' | 'delete', url: string, token = rootToken) {
  return request(t.server)[method](`/api/v1${url}`).set('Authorization', `Bearer ${token}`);
}

type Answer = { status: number; body: { error?: { code: string; message: string; details?: { fields?: Record<string, string> } } } };

/** No 5xx; every refusal is a 4xx with a message. Returns the successes. */
function judge(answers: Answer[], ok: number[] = [200, 201]): Answer[] {
  for (const a of answers) {
    expect(a.status, JSON.stringify(a.body)).toBeLessThan(500);
    if (!ok.includes(a.status)) expect(a.body.error?.message, JSON.stringify(a.body)).toBeTruthy();
  }
  return answers.filter((a) => ok.includes(a.status));
}

async function activeSuperusers(): Promise<number> {
  const r = await t.db('users').join('roles', 'roles.id', 'users.role_id').where({ 'roles.builtin_key': 'superuser', 'users.status': 'active' }).count({ n: '*' }).first();
  return Number(r!.n);
}

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'root', role: 'superuser' });
  rootToken = await t.token('root');
});
afterAll(async () => t?.close());

describe('the last active Superuser', () => {
  it('survives two Superusers deactivating each other at the same moment, round after round', async () => {
    // Only the pair is active: the others are deactivated for the duration, so the pair are the last two.
    for (let round = 0; round < PARALLEL; round++) {
      const a = unique('su.a');
      const b = unique('su.b');
      await t.makeUser({ username: a, role: 'superuser' });
      await t.makeUser({ username: b, role: 'superuser' });
      const [ta, tb] = [await t.token(a), await t.token(b)];
      await t.db('users').whereNotIn('username_lower', [a, b]).update({ status: 'deactivated' });
      try {
        const answers = await Promise.all([api('post', `/users/${b}/deactivate`, ta).send({}), api('post', `/users/${a}/deactivate`, tb).send({})]);
        const ok = judge(answers);
        expect(await activeSuperusers(), `round ${round}`).toBe(1);
        expect(ok.length).toBe(1);
        const refused = answers.find((x) => x.status !== 200)!;
        // Refused because nobody else is left — or because the refused actor was deactivated first.
        expect([409, 401]).toContain(refused.status);
      } finally {
        await t.db('users').where('username_lower', 'root').update({ status: 'active' });
        await t.db('users').whereIn('username_lower', [a, b]).update({ status: 'deactivated' });
      }
    }
  });

  it('survives twenty Superusers each deactivating the next, all at once', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const names = Array.from({ length: PARALLEL }, () => unique('ring'));
      for (const n of names) await t.makeUser({ username: n, role: 'superuser' });
      const tokens = await Promise.all(names.map((n) => t.token(n)));
      await t.db('users').whereNotIn('username_lower', names).update({ status: 'deactivated' });
      try {
        const answers = await Promise.all(names.map((_, i) => api('post', `/users/${names[(i + 1) % names.length]}/deactivate`, tokens[i]).send({})));
        judge(answers);
        expect(await activeSuperusers(), `round ${round}`).toBeGreaterThanOrEqual(1);
      } finally {
        await t.db('users').where('username_lower', 'root').update({ status: 'active' });
        await t.db('users').whereIn('username_lower', names).update({ status: 'deactivated' });
      }
    }
  });
});

describe('unique names', () => {
  it('lets exactly one of twenty simultaneous creates of a username win; the rest get the field message', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const username = unique('dup.user');
      const answers = await Promise.all(
        Array.from({ length: PARALLEL }, (_, i) =>
          api('post', '/users').send({ username, firstName: 'Dup', lastName: 'User', email: `${username}.${i}@example.com`, password: 'a-long-enough-password' }),
        ),
      );
      expect(judge(answers, [201]).length).toBe(1);
      for (const a of answers.filter((x) => x.status !== 201)) {
        expect(a.status).toBe(422);
        expect(a.body.error!.details!.fields!.username).toMatch(/taken/);
      }
      expect(Number((await t.db('users').where({ username_lower: username }).count({ n: '*' }).first())!.n)).toBe(1);
    }
  });

  it('does the same for emails, group names, role names and workspace names', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const email = `${unique('shared')}@example.com`;
      const emails = await Promise.all(
        Array.from({ length: PARALLEL }, (_, i) =>
          api('post', '/users').send({ username: unique(`mail${i}.`), firstName: 'M', lastName: 'U', email, password: 'a-long-enough-password' }),
        ),
      );
      expect(judge(emails, [201]).length).toBe(1);
      for (const a of emails.filter((x) => x.status !== 201)) expect(a.body.error!.details!.fields!.email).toMatch(/already/);

      const group = unique('Team ');
      const groups = await Promise.all(Array.from({ length: PARALLEL }, () => api('post', '/groups').send({ name: group })));
      expect(judge(groups, [201]).length).toBe(1);
      for (const a of groups.filter((x) => x.status !== 201)) expect(a.body.error!.details!.fields!.name).toMatch(/already exists/);

      const role = unique('Role ');
      const roles = await Promise.all(Array.from({ length: PARALLEL }, () => api('post', '/roles').send({ name: role, template: 'viewer' })));
      expect(judge(roles, [201]).length).toBe(1);
      for (const a of roles.filter((x) => x.status !== 201)) expect(a.body.error!.details!.fields!.name).toMatch(/already has this name|already exists/);

      const ws = unique('Region ');
      const spaces = await Promise.all(Array.from({ length: PARALLEL }, () => api('post', '/workspaces').send({ name: ws })));
      expect(judge(spaces, [201]).length).toBe(1);
      for (const a of spaces.filter((x) => x.status !== 201)) expect(Object.values(a.body.error!.details!.fields!).join(' ')).toMatch(/already has a sub-workspace|already exists/);
    }
  });
});

describe('license seats', () => {
  it('gives out exactly the seats that are left when twenty license changes arrive at once', async () => {
    const license = await t.db('license_types').where({ key: 'process_participant' }).first();
    for (let round = 0; round < ROUNDS; round++) {
      const names = Array.from({ length: PARALLEL }, () => unique('seat'));
      for (const n of names) await t.makeUser({ username: n, role: 'viewer' });
      const used = Number((await t.db('users').where({ license_type_id: license.id }).count({ n: '*' }).first())!.n);
      await t.db('license_types').where({ id: license.id }).update({ seat_limit: used + 2 });
      try {
        const answers = await Promise.all(names.map((n) => api('patch', `/users/${n}`).send({ license: 'process_participant' })));
        expect(judge(answers).length, `round ${round}`).toBe(2);
        for (const a of answers.filter((x) => x.status !== 200)) {
          expect(a.status).toBe(409);
          expect(a.body.error!.code).toBe('seats_exhausted');
        }
        expect(Number((await t.db('users').where({ license_type_id: license.id }).count({ n: '*' }).first())!.n)).toBe(used + 2);
      } finally {
        await t.db('license_types').where({ id: license.id }).update({ seat_limit: null });
      }
    }
  });

  it('counts new accounts against the limit the same way', async () => {
    const license = await t.db('license_types').where({ key: 'process_viewer' }).first();
    const used = Number((await t.db('users').where({ license_type_id: license.id }).count({ n: '*' }).first())!.n);
    await t.db('license_types').where({ id: license.id }).update({ seat_limit: used + 3 });
    try {
      const answers = await Promise.all(
        Array.from({ length: PARALLEL }, () => {
          const username = unique('newseat');
          return api('post', '/users').send({ username, firstName: 'N', lastName: 'S', email: `${username}@example.com`, password: 'a-long-enough-password', license: 'process_viewer' });
        }),
      );
      expect(judge(answers, [201]).length).toBe(3);
      expect(Number((await t.db('users').where({ license_type_id: license.id }).count({ n: '*' }).first())!.n)).toBe(used + 3);
    } finally {
      await t.db('license_types').where({ id: license.id }).update({ seat_limit: null });
    }
  });
});

describe('one default role', () => {
  it('stays exactly one when twenty administrators make twenty roles the default at once', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const ids: number[] = [];
      for (let i = 0; i < PARALLEL; i++) ids.push((await api('post', '/roles').send({ name: unique('Default candidate '), template: 'viewer' })).body.id);
      const answers = await Promise.all(ids.map((id) => api('put', '/roles/default').send({ role: id })));
      judge(answers);
      const defaults = await t.db('roles').where({ is_default: true }).select('id');
      expect(defaults.length, `round ${round}`).toBe(1);
    }
  });
});

describe('the workspace tree', () => {
  it('never gets a cycle from two moves crossing each other, twenty pairs at once', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const pairs: Array<[string, string]> = [];
      for (let i = 0; i < PARALLEL / 2; i++) {
        const a = unique('Left ');
        const b = unique('Right ');
        await workspaceService.createWorkspace(t.db, SYSTEM_ACTOR, { name: a, parent: { text: '/Root' } });
        await workspaceService.createWorkspace(t.db, SYSTEM_ACTOR, { name: b, parent: { text: '/Root' } });
        pairs.push([a, b]);
      }
      const idOf = async (name: string) => (await t.db('workspaces').where({ name }).first('id')).id;
      const moves = [];
      for (const [a, b] of pairs) {
        moves.push(api('patch', `/workspaces/${await idOf(a)}`).send({ parent: `/Root/${b}` }));
        moves.push(api('patch', `/workspaces/${await idOf(b)}`).send({ parent: `/Root/${a}` }));
      }
      judge(await Promise.all(moves));
      // Every workspace still reaches the root.
      const rows: Array<{ id: number; parent_id: number | null }> = await t.db('workspaces').select('id', 'parent_id');
      const parent = new Map(rows.map((r) => [r.id, r.parent_id]));
      for (const r of rows) {
        const seen = new Set<number>();
        let at: number | null = r.id;
        while (at !== null) {
          expect(seen.has(at), `cycle through workspace ${at}`).toBe(false);
          seen.add(at);
          at = parent.get(at) ?? null;
        }
      }
    }
  });
});
