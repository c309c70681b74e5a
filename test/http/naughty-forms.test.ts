import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type Agent, type TestApp } from '../support/app';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as groupService from '../../src/groups/service';
import * as permissionService from '../../src/domainPermissions/service';
import * as assetService from '../../src/assets/service';
import type { MountedRoute } from '../../src/http/routing';

/**
 * Naughty strings into every field of every console form, on both databases: the answer is the form
 * again (or a page) with a message, never a 500. The API's operations get the same treatment from the
 * OpenAPI hostile-input tests.
 */
const NAUGHTY: string[] = [
  '',
  ' ',
  '\u0000',
  '\u0007bell',
  'İ'.repeat(70),
  'ß'.repeat(130),
  '𝕳𝖊𝖑𝖑𝖔'.repeat(30),
  '👩‍👩‍👧‍👦'.repeat(40),
  '\u202Eevil\u202C',
  '\uD800',
  "' OR 1=1 --",
  '"; DROP TABLE users; --',
  '<script>alert(1)</script>',
  '%s%n%x',
  '../../../../etc/passwd',
  '-1',
  '1e309',
  '99999999999999999999',
  'NaN',
  'null',
  'x'.repeat(10_000),
  '  padded  ',
  'Root/../Root',
];

/** Every field name the console's forms read, so each form gets its own fields filled with the naughty value. */
const FIELDS = [
  'username', 'firstName', 'lastName', 'email', 'password', 'roleId', 'licenseTypeId', 'name', 'description', 'effect', 'domain',
  'workspace', 'workspaceId', 'transitive', 'ops', 'level', 'priority', 'version', 'parent', 'parentId', 'q', 'userId', 'user',
  'transferTo', 'assets', 'templateRoleId', 'seatLimit', 'requester', 'approver', 'kind', 'owner', 'group', 'groupId', 'access',
  'moveTo', 'expiresInDays', 'currentPassword', 'newPassword', 'confirmPassword', 'baseName', 'baseDescription', 'target',
  'members_add', 'members_remove', 'users_add', 'users_remove', 'groups_add', 'groups_remove', 'permissions', 'cell', 'value',
];

let t: TestApp;
let admin: Agent;
const ids: Record<string, number> = {};

function concrete(route: MountedRoute): string {
  return route.path
    .replace(/:pid\b/, String(ids.permission))
    .replace(/:groupId\b/, String(ids.group))
    .replace(/:requester\b/, String(ids.group))
    .replace(/:approver\b/, String(ids.otherGroup))
    .replace(/:key\b/, 'process_viewer')
    .replace(/:id\b/, () => {
      if (route.path.startsWith('/users')) return String(ids.user);
      if (route.path.startsWith('/groups')) return String(ids.group);
      if (route.path.startsWith('/roles')) return String(ids.role);
      if (route.path.startsWith('/workspaces')) return String(ids.workspace);
      if (route.path.startsWith('/assets')) return String(ids.asset);
      if (route.path.startsWith('/account/tokens')) return '1';
      return '1';
    });
}

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'root', role: 'superuser' });
  ids.user = await t.makeUser({ username: 'target.person' });
  const group = await groupService.createGroup(t.db, SYSTEM_ACTOR, { name: 'Naughty group' });
  ids.group = group.id;
  ids.otherGroup = (await groupService.createGroup(t.db, SYSTEM_ACTOR, { name: 'Other group' })).id;
  ids.permission = (
    await permissionService.createPermission(t.db, SYSTEM_ACTOR, group.id, { effect: 'allow', domain: { name: 'Files' }, workspace: { text: '/Root' }, transitive: false, ops: 'R', level: 0, priority: 'low' })
  ).permission.id;
  ids.role = (await t.db('roles').where({ builtin_key: 'viewer' }).first('id')).id;
  ids.workspace = (await t.db('workspaces').whereNull('parent_id').first('id')).id;
  ids.asset = (await assetService.register(t.db, SYSTEM_ACTOR, { kind: 'model', name: 'Naughty model', owner: 'target.person' }, { text: '/Root' })).id;
  admin = await t.signIn('root');
});
afterAll(async () => t?.close());

describe('naughty strings in console forms', () => {
  const routes = () => t.gate.routes.filter((r) => !r.api && r.method === 'POST' && r.path !== '/logout');
  it('has forms to try', () => {
    expect(routes().length).toBeGreaterThan(30);
  });

  it.each(NAUGHTY.map((value, i) => ({ i, label: JSON.stringify(value.slice(0, 12)) })))('never answers 500 to $label in every field of every form', async ({ i }) => {
    const value = NAUGHTY[i];
    for (const route of routes()) {
      const body: Record<string, string> = { _csrf: admin.csrf, op: 'save' };
      for (const f of FIELDS) body[f] = value;
      const res = await admin.post(concrete(route)).type('form').send(body);
      expect(res.status, `${route.path} with ${JSON.stringify(value.slice(0, 20))}: ${res.text.slice(0, 200)}`).toBeLessThan(500);
    }
    // The session survived everything (no sign-out route was called) and the console still answers.
    expect((await admin.get('/users')).status).toBe(200);
  });
});

describe('one naughty field among valid ones', () => {
  let serial = 0;
  /** Valid bodies of the forms that create or rename things, fresh each time (names must stay unique). */
  const FORMS: Record<string, () => { url: string; body: Record<string, string> }> = {
    'create user': () => {
      const n = `naughty.${++serial}`;
      return { url: '/users/new', body: { op: 'save', username: n, firstName: 'Nau', lastName: 'Ghty', email: `${n}@example.com`, password: 'a-long-enough-password', roleId: '', licenseTypeId: '' } };
    },
    'edit user': () => ({ url: `/users/${ids.user}`, body: { op: 'save', firstName: 'Target', lastName: 'Person', email: 'target.person@example.com', password: '', roleId: String(ids.role), licenseTypeId: '' } }),
    'create group': () => ({ url: '/groups', body: { name: `Naughty team ${++serial}`, description: 'Fine' } }),
    'create role': () => ({ url: '/roles/new', body: { name: `Naughty role ${++serial}`, description: 'Fine', templateRoleId: String(ids.role) } }),
    'create workspace': () => ({ url: `/workspaces/${ids.workspace}/children`, body: { name: `Naughty space ${++serial}` } }),
    'grant permission': () => ({
      url: `/groups/${ids.otherGroup}/permissions`,
      body: { effect: 'allow', domain: '1', workspace: '/Root', transitive: '1', ops: 'R', level: '0', priority: 'low' },
    }),
    'register asset': () => ({ url: '/assets/new', body: { kind: 'model', name: `Naughty asset ${++serial}`, owner: 'target.person', workspace: '/Root' } }),
    'create token': () => ({ url: '/account/tokens', body: { name: `token ${++serial}`, expiresInDays: '30' } }),
  };

  it.each(Object.keys(FORMS))('%s: never a 500, whichever field is naughty', async (form) => {
    const fields = Object.keys(FORMS[form]().body).filter((f) => f !== 'op');
    for (const field of fields) {
      for (const value of NAUGHTY) {
        const { url, body } = FORMS[form]();
        const res = await admin.post(url).type('form').send({ _csrf: admin.csrf, ...body, [field]: value });
        expect(res.status, `${form}: ${field} = ${JSON.stringify(value.slice(0, 20))}: ${res.text.slice(0, 200)}`).toBeLessThan(500);
      }
    }
  });
});
