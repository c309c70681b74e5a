import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { createTestApp, type Agent, type TestApp } from '../support/app';
import { userEditForm } from '../support/forms';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as roleService from '../../src/roles/service';
import * as groupService from '../../src/groups/service';
import type { MountedRoute } from '../../src/http/routing';
import { sessionHandle } from '../../src/auth/sessionList';

/**
 * The rule "who may change whom" (src/users/policy.ts), tried on every state-changing route of the route
 * tables, console and API alike: each route is either listed below with how to aim it at an account, or
 * listed as not changing other accounts (with why). A route added without either fails the first test.
 *
 * Every account route is then tried by an Administrator, a custom administrator role holding "Access API",
 * and a plain user, against a Superuser, a peer Administrator, themselves and an ordinary user. The answer
 * must be what the rule gives; a refused request must have changed nothing, and an allowed one something.
 */
type Actor = 'administrator' | 'integrator' | 'plain';
type TargetKind = 'superuser' | 'peer' | 'self' | 'ordinary';
interface Target {
  id: number;
  username: string;
}
interface Caller {
  kind: Actor;
  username: string;
  agent: Agent;
  token?: string;
}
type Send = (caller: Caller, target: Target) => Promise<request.Response>;
interface AccountRoute {
  /** Puts the target into a state the route can change (a session to end, a lock to lift…). */
  prepare?: (target: Target) => Promise<void>;
  send: Send;
}

let t: TestApp;
let groupId: number;
let groupName: string;
let clerkRoleId: number;
const callers = {} as Record<Actor, Caller>;

const form = (caller: Caller, url: string, fields: Record<string, string> = {}) => caller.agent.post(url).type('form').send({ _csrf: caller.agent.csrf, ...fields });
const api = (caller: Caller, method: 'post' | 'patch' | 'delete', url: string, body?: object) => {
  const r = request(t.server)[method](`/api/v1${url}`).set('Authorization', `Bearer ${caller.token ?? 'gh_no-token-for-this-role'}`);
  return body ? r.send(body) : r;
};

async function signInTarget(target: Target): Promise<void> {
  await t.signIn(target.username);
}
async function deactivateTarget(target: Target): Promise<void> {
  await t.db('users').where({ id: target.id }).update({ status: 'deactivated' });
}
async function lockTarget(target: Target): Promise<void> {
  await t.db('users').where({ id: target.id }).update({ locked_until: Date.now() + 3600_000, failed_logins: 5 });
}

async function enrolTarget(target: Target): Promise<void> {
  await t.make.enrolTotp(target.username);
}
/** The handle of the target's session (or a made-up one when the target has none: the request is refused first). */
async function sessionOf(target: Target): Promise<string> {
  const row = await t.db('sessions').where({ user_id: target.id }).first('id');
  return row ? sessionHandle(row.id) : 'no-session-handle-000';
}

const ACCOUNT_ROUTES: Record<string, AccountRoute> = {
  'WEB POST /users/:id/two-factor/reset': { prepare: enrolTarget, send: (c, u) => form(c, `/users/${u.id}/two-factor/reset`) },
  'WEB POST /users/:id/sessions/:handle/end': { prepare: signInTarget, send: async (c, u) => form(c, `/users/${u.id}/sessions/${await sessionOf(u)}/end`) },
  'API DELETE /users/:username/second-factor': { prepare: enrolTarget, send: (c, u) => api(c, 'delete', `/users/${u.username}/second-factor`) },
  'API DELETE /users/:username/sessions/:session': { prepare: signInTarget, send: async (c, u) => api(c, 'delete', `/users/${u.username}/sessions/${await sessionOf(u)}`) },
  'WEB POST /users/:id': { send: async (c, u) => c.agent.post(`/users/${u.id}`).type('form').send(await userEditForm(c.agent, u.id, { firstName: 'Changed' })) },
  'WEB POST /users/:id/deactivate': { send: (c, u) => form(c, `/users/${u.id}/deactivate`) },
  'WEB POST /users/:id/reactivate': { prepare: deactivateTarget, send: (c, u) => form(c, `/users/${u.id}/reactivate`) },
  'WEB POST /users/:id/unlock': { prepare: lockTarget, send: (c, u) => form(c, `/users/${u.id}/unlock`) },
  'WEB POST /users/:id/end-sessions': { prepare: signInTarget, send: (c, u) => form(c, `/users/${u.id}/end-sessions`) },
  'WEB POST /users/:id/delete': { send: (c, u) => form(c, `/users/${u.id}/delete`) },
  'WEB POST /groups/:id': { send: (c, u) => form(c, `/groups/${groupId}`, { op: 'save', members_add: String(u.id) }) },
  'WEB POST /groups/:id/members/add': { send: (c, u) => form(c, `/groups/${groupId}/members/add`, { userId: String(u.id) }) },
  'WEB POST /roles/:id/users': { send: (c, u) => form(c, `/roles/${clerkRoleId}/users`, { op: 'save', users_add: String(u.id) }) },
  'WEB POST /users/bulk': { send: (c, u) => form(c, '/users/bulk', { action: 'deactivate', ids: String(u.id), planned: String(u.id) }) },
  'API PATCH /users/:username': { send: (c, u) => api(c, 'patch', `/users/${u.username}`, { firstName: 'Changed' }) },
  'API DELETE /users/:username': { send: (c, u) => api(c, 'delete', `/users/${u.username}`) },
  'API POST /users/:username/deactivate': { send: (c, u) => api(c, 'post', `/users/${u.username}/deactivate`, {}) },
  'API POST /users/:username/reactivate': { prepare: deactivateTarget, send: (c, u) => api(c, 'post', `/users/${u.username}/reactivate`, {}) },
  'API POST /users/:username/unlock': { prepare: lockTarget, send: (c, u) => api(c, 'post', `/users/${u.username}/unlock`, {}) },
  'API POST /users/:username/end-sessions': { prepare: signInTarget, send: (c, u) => api(c, 'post', `/users/${u.username}/end-sessions`, {}) },
  'API POST /groups/:name/members': { send: (c, u) => api(c, 'post', `/groups/${encodeURIComponent(groupName)}/members`, { add: [u.username] }) },
  'API POST /roles/:id/users': { send: (c, u) => api(c, 'post', `/roles/${clerkRoleId}/users`, { add: [u.username] }) },
};

/** State-changing routes that change no other account, and why (the rule has nothing to decide there). */
const NOT_ACCOUNT_ROUTES: Record<string, string> = {
  'WEB POST /login': 'signs in: changes only the session of whoever holds the password',
  'WEB POST /logout': 'ends the caller’s own session',
  'WEB POST /users/new': 'creates a new account; handing out a role follows the assignment rule (escalation.test.ts)',
  'WEB POST /users/import': 'checks a CSV file (the dry run): writes nothing but the staged rows',
  'WEB POST /users/import/:import': 'creates new accounts from a checked file; roles and groups follow the same rules as Create user (csv.test.ts)',
  'WEB POST /account/profile': 'the caller’s own account (My account)',
  'WEB POST /account/password': 'the caller’s own account (My account)',
  'WEB POST /account/tokens': 'the caller’s own tokens (My account)',
  'WEB POST /account/tokens/:id/revoke': 'the caller’s own tokens (My account)',
  'WEB POST /account/sessions/end-others': 'the caller’s own sessions (My account)',
  'WEB POST /account/sessions/:handle/end': 'the caller’s own sessions (My account)',
  'WEB POST /account/two-factor/totp/start': 'the caller’s own second factor (My account)',
  'WEB POST /account/two-factor/totp': 'the caller’s own second factor (My account)',
  'WEB POST /account/two-factor/totp/remove': 'the caller’s own second factor (My account)',
  'WEB POST /account/two-factor/recovery-codes': 'the caller’s own second factor (My account)',
  'WEB POST /account/passkeys/options': 'the caller’s own second factor (My account)',
  'WEB POST /account/passkeys': 'the caller’s own second factor (My account)',
  'WEB POST /account/passkeys/:id/remove': 'the caller’s own second factor (My account)',
  'WEB POST /login/two-factor': 'the second step of the caller’s own sign-in',
  'WEB POST /login/two-factor/passkey/options': 'the second step of the caller’s own sign-in',
  'WEB POST /login/two-factor/passkey': 'the second step of the caller’s own sign-in',
  'WEB POST /reauth': 'confirms the caller’s own identity',
  'WEB POST /reauth/passkey/options': 'confirms the caller’s own identity',
  'WEB POST /reauth/passkey': 'confirms the caller’s own identity',
  'WEB POST /password/forgot': 'mails a link to the account’s own address',
  'WEB POST /password/reset/:token': 'whoever holds the mailed link changes that account’s password',
  'WEB POST /settings/sign-in': 'the sign-in policy: Superuser only',
  'WEB POST /settings/webhooks/new': 'webhook endpoints: Superuser only',
  'WEB POST /settings/webhooks/:id': 'webhook endpoints: Superuser only',
  'WEB POST /settings/webhooks/:id/secret': 'webhook endpoints: Superuser only',
  'WEB POST /settings/webhooks/:id/test': 'webhook endpoints: Superuser only',
  'WEB POST /settings/webhooks/:id/remove': 'webhook endpoints: Superuser only',
  'WEB POST /settings/webhooks/:id/deliveries/:delivery/redeliver': 'webhook endpoints: Superuser only',
  'API POST /webhooks': 'webhook endpoints: Superuser only',
  'API PATCH /webhooks/:id': 'webhook endpoints: Superuser only',
  'API DELETE /webhooks/:id': 'webhook endpoints: Superuser only',
  'API POST /webhooks/:id/secret': 'webhook endpoints: Superuser only',
  'API POST /webhooks/:id/test': 'webhook endpoints: Superuser only',
  'API POST /webhooks/:id/deliveries/:delivery/redeliver': 'webhook endpoints: Superuser only',
  'WEB POST /workspaces/:id/children': 'workspaces',
  'WEB POST /workspaces/:id/rename': 'workspaces',
  'WEB POST /workspaces/:id/move': 'workspaces',
  'WEB POST /workspaces/:id/external-key': 'workspaces',
  'WEB POST /domains/new': 'the domain catalog: Superuser only',
  'WEB POST /domains/:id': 'the domain catalog: Superuser only',
  'WEB POST /domains/:id/delete': 'the domain catalog: Superuser only',
  'API POST /domains': 'the domain catalog: Superuser only',
  'API PATCH /domains/:key': 'the domain catalog: Superuser only',
  'API DELETE /domains/:key': 'the domain catalog: Superuser only',
  'API POST /evaluation': 'AuthZEN: decides, changes nothing',
  'API POST /evaluations': 'AuthZEN: decides, changes nothing',
  'API POST /search/subject': 'AuthZEN: searches, changes nothing',
  'API POST /search/resource': 'AuthZEN: searches, changes nothing',
  'API POST /search/action': 'AuthZEN: searches, changes nothing',
  'WEB POST /workspaces/:id/delete': 'workspaces',
  'WEB POST /groups': 'creates an empty group',
  'WEB POST /groups/relations': 'approval relations between groups',
  'WEB POST /groups/relations/:requester/:approver/delete': 'approval relations between groups',
  'WEB POST /groups/:id/relations': 'approval relations between groups',
  'WEB POST /groups/:id/delete': 'removes a group; its domain permissions follow the membership rule (boundaries.test.ts)',
  'WEB POST /groups/:id/permissions': 'domain permissions; nobody changes those of their own groups (boundaries.test.ts)',
  'WEB POST /groups/:id/permissions/:pid': 'domain permissions; nobody changes those of their own groups',
  'WEB POST /groups/:id/permissions/:pid/delete': 'domain permissions; nobody changes those of their own groups',
  'WEB POST /roles/new': 'creates a role; templates follow the creation rule (escalation.test.ts)',
  'WEB POST /roles/matrix/:id': 'role permissions: Superuser only',
  'WEB POST /roles/:id': 'renames a role; permissions are Superuser only',
  'WEB POST /roles/:id/clone': 'creates a role; follows the creation rule',
  'WEB POST /roles/:id/default': 'which role new accounts get',
  'WEB POST /roles/:id/delete': 'moves holders only when the role grants nothing the actor lacks (roles service)',
  'WEB POST /licenses/caps': 'license caps: Superuser only',
  'WEB POST /licenses/:key/seats': 'license seats: Superuser only',
  'WEB POST /assets/new': 'assets',
  'WEB POST /assets/:id': 'assets',
  'WEB POST /assets/:id/transfer': 'assets',
  'WEB POST /assets/:id/shares': 'assets',
  'WEB POST /assets/:id/shares/:groupId/delete': 'assets',
  'WEB POST /assets/:id/delete': 'assets',
  'API POST /users': 'creates a new account; handing out a role follows the assignment rule (escalation.test.ts)',
  'API POST /check': 'a question, no change',
  'API POST /check/batch': 'questions, no change',
  'API POST /workspaces': 'workspaces',
  'API PATCH /workspaces/:id': 'workspaces',
  'API DELETE /workspaces/:id': 'workspaces',
  'API POST /groups': 'creates an empty group',
  'API PATCH /groups/:name': 'renames a group',
  'API DELETE /groups/:name': 'removes a group; its domain permissions follow the membership rule',
  'API POST /group-relations': 'approval relations between groups',
  'API DELETE /group-relations': 'approval relations between groups',
  'API POST /groups/:name/permissions': 'domain permissions; nobody changes those of their own groups',
  'API PATCH /permissions/:id': 'domain permissions; nobody changes those of their own groups',
  'API DELETE /permissions/:id': 'domain permissions; nobody changes those of their own groups',
  'API POST /roles': 'creates a role; follows the creation rule',
  'API PUT /roles/default': 'which role new accounts get',
  'API PATCH /roles/:id': 'renames a role; permissions are Superuser only',
  'API DELETE /roles/:id': 'moves holders only when the role grants nothing the actor lacks (roles service)',
  'API PUT /roles/:id/permissions': 'role permissions: Superuser only',
  'API PATCH /licenses/:key': 'license seats: Superuser only',
  'API PUT /licenses/:key/caps': 'license caps: Superuser only',
  'API POST /assets': 'assets',
  'API PATCH /assets/:id': 'assets',
  'API DELETE /assets/:id': 'assets',
  'API POST /assets/:id/transfer': 'assets',
  'API PUT /assets/:id/shares': 'assets',
  'API DELETE /assets/:id/shares/:group': 'assets',
  'WEB POST /settings/scim': 'the user who receives assets of users deleted through SCIM (Superusers only); SCIM itself acts as the client owner under this rule (scim-protocol.test.ts)',
  'WEB POST /settings/clients/new': 'machine clients: creating one changes no account; its calls are judged as its owner (clients.test.ts)',
  'WEB POST /settings/clients/:id': 'machine clients (Superusers only)',
  'WEB POST /settings/clients/:id/disable': 'machine clients (Superusers only)',
  'WEB POST /settings/clients/:id/enable': 'machine clients (Superusers only)',
  'WEB POST /settings/clients/:id/tokens': 'machine clients (Superusers only)',
  'WEB POST /settings/clients/:id/tokens/:tokenId/revoke': 'machine clients (Superusers only)',
  'WEB POST /settings/clients/:id/delete': 'machine clients (Superusers only)',
  'API POST /clients': 'machine clients: creating one changes no account; its calls are judged as its owner (clients.test.ts)',
  'API PATCH /clients/:id': 'machine clients (Superusers only)',
  'API DELETE /clients/:id': 'machine clients (Superusers only)',
  'API POST /clients/:id/tokens': 'machine clients (Superusers only)',
  'API DELETE /clients/:id/tokens/:tokenId': 'machine clients (Superusers only)',
};

const keyOf = (r: MountedRoute) => `${r.api ? 'API' : 'WEB'} ${r.method} ${r.path}`;

/** What the rule says: may this actor change this target through this route? */
function allowed(actor: Actor, target: TargetKind, api: boolean): boolean {
  if (actor === 'plain' || target === 'self' || target === 'superuser') return false;
  if (actor === 'administrator') return !api; // no "Access API": no token
  // The integrator lacks "Manage access rights", which a peer Administrator's role holds.
  return target === 'ordinary';
}

/** Everything a change to an account could touch. */
async function snapshot(id: number) {
  const user = await t.db('users').where({ id }).first();
  if (user) delete user.last_activity_at;
  return {
    user,
    groups: await t.db('group_members').where({ user_id: id }).orderBy('group_id').pluck('group_id'),
    sessions: Number((await t.db('sessions').where({ user_id: id }).count({ n: '*' }).first())!.n),
    secondFactors: Number((await t.db('totp_factors').where({ user_id: id }).count({ n: '*' }).first())!.n),
  };
}

let serial = 0;
async function freshTarget(kind: Exclude<TargetKind, 'self'>): Promise<Target> {
  const username = `${kind}.${++serial}`;
  const id = await t.makeUser({ username, role: kind === 'superuser' ? 'superuser' : kind === 'peer' ? 'administrator' : 'analyst' });
  return { id, username };
}

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'root', role: 'superuser' });
  const viewer = (await t.db('roles').where({ builtin_key: 'viewer' }).first('id')).id;
  const integrator = await roleService.createRole(t.db, SYSTEM_ACTOR, { name: 'Integrator', templateRoleId: viewer });
  await roleService.replacePermissions(t.db, SYSTEM_ACTOR, integrator.id, ['users.manage', 'api.access']);
  clerkRoleId = (await roleService.createRole(t.db, SYSTEM_ACTOR, { name: 'Clerk', templateRoleId: viewer })).id;
  const group = await groupService.createGroup(t.db, SYSTEM_ACTOR, { name: 'Book club' });
  groupId = group.id;
  groupName = group.name;
  for (const [kind, role] of [
    ['administrator', 'administrator'],
    ['integrator', 'Integrator'],
    ['plain', 'analyst'],
  ] as const) {
    await t.makeUser({ username: `actor.${kind}`, role });
    callers[kind] = { kind, username: `actor.${kind}`, agent: await t.signIn(`actor.${kind}`), token: kind === 'integrator' ? await t.token(`actor.${kind}`) : undefined };
  }
});
afterAll(async () => t?.close());

describe('who may change whom, on every state-changing route', () => {
  it('knows every state-changing route: aimed at an account, or listed as changing none', () => {
    const changing = t.gate.routes.filter((r) => r.method !== 'GET').map(keyOf);
    const unclassified = changing.filter((k) => !(k in ACCOUNT_ROUTES) && !(k in NOT_ACCOUNT_ROUTES));
    expect(unclassified, 'classify these routes in test/http/who-may-change-whom.test.ts').toEqual([]);
    const stale = [...Object.keys(ACCOUNT_ROUTES), ...Object.keys(NOT_ACCOUNT_ROUTES)].filter((k) => !changing.includes(k));
    expect(stale, 'these routes no longer exist').toEqual([]);
  });

  const cases = Object.keys(ACCOUNT_ROUTES).flatMap((route) =>
    (['administrator', 'integrator', 'plain'] as const).flatMap((actor) => (['superuser', 'peer', 'self', 'ordinary'] as const).map((target) => ({ route, actor, target }))),
  );

  it.each(cases)('$route by $actor on $target', async ({ route, actor, target }) => {
    const spec = ACCOUNT_ROUTES[route];
    const caller = callers[actor];
    const who: Target =
      target === 'self' ? { id: (await t.db('users').where({ username_lower: caller.username }).first('id')).id, username: caller.username } : await freshTarget(target);
    // Preparing the caller's own account (deactivating, locking it) would lock them out; refusals need no set-up.
    if (target !== 'self' || spec.prepare === signInTarget) await spec.prepare?.(who);
    const before = await snapshot(who.id);
    const res = await spec.send(caller, who);
    expect(res.status, res.text.slice(0, 300)).toBeLessThan(500);
    const after = await snapshot(who.id);
    if (allowed(actor, target, route.startsWith('API'))) {
      expect(res.status, res.text.slice(0, 300)).toBeLessThan(400);
      expect(after, 'an allowed request changes the account').not.toEqual(before);
    } else {
      expect(after, 'a refused request changes nothing').toEqual(before);
      // Refused out loud: a 4xx, or (console actions) a redirect whose page shows the reason.
      if (res.status < 400) {
        expect(res.status).toBe(303);
        const page = await caller.agent.get(res.headers.location);
        expect(page.text).toMatch(/flash-error/);
      }
    }
  });
});
