/**
 * Test data made the way the product makes it: through the services, as the system actor, so every rule
 * (validation, seats, uniqueness, audit, the access index's version) holds for it as for real data. Each
 * test builds what it needs with these; nothing here depends on another test having run first.
 */
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/connect';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import type { AppPermission } from '../../src/permissions/catalog';
import { recordChange } from '../../src/changes/service';
import * as users from '../../src/users/repo';
import * as importRepo from '../../src/users/importRepo';
import * as userService from '../../src/users/service';
import * as groups from '../../src/groups/repo';
import * as groupService from '../../src/groups/service';
import * as roles from '../../src/roles/repo';
import * as roleService from '../../src/roles/service';
import * as licenses from '../../src/licenses/repo';
import * as licenseService from '../../src/licenses/service';
import * as workspaces from '../../src/workspaces/repo';
import * as workspaceService from '../../src/workspaces/service';
import * as permissionService from '../../src/domainPermissions/service';
import * as assetService from '../../src/assets/service';
import * as tokenService from '../../src/tokens/service';
import * as factorsRepo from '../../src/auth/factors';
import * as domainService from '../../src/domains/service';
import * as webhookService from '../../src/webhooks/service';
import * as clientService from '../../src/clients/service';
import type { Scope } from '../../src/clients/scopes';

export const PASSWORD = 'a-long-test-password';

export interface UserSpec {
  username: string;
  /** A built-in role key (`superuser`, `administrator`, `analyst`, `viewer`, …) or a role name; default: analyst. */
  role?: string;
  /** A license key; default: the role's license type. */
  license?: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  password?: string;
  status?: 'active' | 'deactivated';
  /** Names of groups to put the user in (they must exist). */
  groups?: string[];
}

export interface PermissionSpec {
  effect?: 'allow' | 'deny';
  domain: string;
  workspace: string;
  operations: string;
  transitive?: boolean;
  level?: number;
  priority?: 'high' | 'low';
}

let counter = 0;
/** A name no other call in this process returns: `${stem}-<n>`. */
export const unique = (stem: string) => `${stem}-${process.pid.toString(36)}${(++counter).toString(36)}`;

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`Test set-up: ${what} does not exist.`);
  return value;
}

export function factories(db: Db, config: Config) {
  const roleByKeyOrName = async (keyOrName: string) =>
    need((await roles.findByBuiltinKey(db, keyOrName)) ?? (await roles.findByNameLower(db, keyOrName.toLowerCase())), `the role ${keyOrName}`);
  const userByName = async (username: string) => need(await users.findByUsername(db, username), `the user ${username}`);
  const groupByName = async (name: string) => need(await groups.findByName(db, name), `the group ${name}`);

  const f = {
    role: roleByKeyOrName,
    user: userByName,
    group: groupByName,
    userId: async (username: string) => (await userByName(username)).id,
    groupId: async (name: string) => (await groupByName(name)).id,
    roleId: async (keyOrName: string) => (await roleByKeyOrName(keyOrName)).id,
    licenseId: async (key: string) => need(await licenses.findByKey(db, key), `the license ${key}`).id,

    /** A local account, made by the users service. */
    async makeUser(spec: UserSpec) {
      const role = await roleByKeyOrName(spec.role ?? 'analyst');
      const created = await userService.createUser(
        db,
        SYSTEM_ACTOR,
        {
          username: spec.username,
          firstName: spec.firstName ?? spec.username,
          lastName: spec.lastName ?? 'Tester',
          email: spec.email ?? `${spec.username}@example.com`,
          password: spec.password ?? PASSWORD,
          roleId: role.id,
          licenseTypeId: spec.license ? await f.licenseId(spec.license) : undefined,
          addGroupIds: await Promise.all((spec.groups ?? []).map(f.groupId)),
        },
        config.scryptN,
      );
      if (spec.status === 'deactivated') return userService.setStatus(db, SYSTEM_ACTOR, created.id, 'deactivated');
      return created;
    },

    /**
     * Writes columns of one user's row that no service sets (no license, a lock), and records the change as
     * every writer must: each server's decision state keeps accounts in memory and reloads one only when the
     * change log names it.
     */
    async writeUserRow(username: string, values: Record<string, unknown>) {
      const id = await f.userId(username);
      await db('users').where({ id }).update(values);
      await recordChange(db, { kind: 'user', id });
    },

    /** A group, with these usernames as members. */
    async makeGroup(name: string, members: string[] = [], description = '') {
      const g = await groupService.createGroup(db, SYSTEM_ACTOR, { name, description });
      if (members.length) await groupService.saveMembers(db, SYSTEM_ACTOR, g.id, { add: await Promise.all(members.map(f.userId)), remove: [] });
      return g;
    },

    /** Adds these usernames to the group (by name or id), through the groups service. */
    async addMembers(group: string | number, usernames: string[]) {
      const id = typeof group === 'number' ? group : await f.groupId(group);
      await groupService.saveMembers(db, SYSTEM_ACTOR, id, { add: await Promise.all(usernames.map(f.userId)), remove: [] });
    },

    /**
     * Many users at once, for the volume tests (thousands through the service, one password hash each, would
     * take minutes): rows built by the users repo (`userRow`, and inserted in batches by the CSV import's repo,
     * without a password, with the Viewer role and its license. Usernames `${prefix}00000`…; ids in that order.
     */
    async bulkUsers(prefix: string, n: number, roleKey = 'viewer') {
      const role = await roleByKeyOrName(roleKey);
      const now = Date.now();
      const rows = Array.from({ length: n }, (_, i) => {
        const username = `${prefix}${String(i).padStart(5, '0')}`;
        return { username, firstName: 'Bulk', lastName: `User ${i}`, email: `${username}@bulk.example.com`, passwordHash: null, roleId: role.id, licenseTypeId: role.licenseTypeId };
      });
      const ids = await importRepo.insertUsers(db, rows, now);
      return rows.map((r) => ids.get(r.username.toLowerCase())!);
    },

    /** A role made from a built-in template (key), optionally with exactly these permissions. */
    async makeRole(name: string, options: { template?: string; permissions?: AppPermission[]; description?: string } = {}) {
      const template = await roleByKeyOrName(options.template ?? 'analyst');
      const r = await roleService.createRole(db, SYSTEM_ACTOR, { name, description: options.description ?? '', templateRoleId: template.id });
      if (options.permissions) await roleService.replacePermissions(db, SYSTEM_ACTOR, r.id, options.permissions);
      return need(await roles.findById(db, r.id), `the role ${name}`);
    },

    /** The workspace at this path ("/Root/Sales/EMEA"), creating what is missing below the root. */
    async makeWorkspace(path: string) {
      const [, rootName, ...names] = path.split('/');
      let current = await workspaces.findRoot(db);
      if (current.name !== rootName) throw new Error(`Test set-up: paths start at /${current.name}, not /${rootName}.`);
      for (const name of names) {
        const child = await workspaces.findChildByName(db, current.id, name);
        current = child ?? (await workspaceService.createWorkspace(db, SYSTEM_ACTOR, { name, parent: { id: current.id } })).workspace;
      }
      return current;
    },

    /** A domain added by a Superuser (key, name, whether levels apply). */
    async makeDomain(spec: { key: string; name?: string; usesLevels?: boolean }) {
      return domainService.createDomain(db, SYSTEM_ACTOR, { key: spec.key, name: spec.name ?? spec.key, usesLevels: spec.usesLevels ?? false });
    },

    /** Sets a workspace's external key. */
    async setExternalKey(workspaceId: number, externalKey: string | null) {
      return (await workspaceService.updateWorkspace(db, SYSTEM_ACTOR, workspaceId, { externalKey })).workspace;
    },

    /** A domain permission on a group (the workspace is created when missing). */
    async grant(groupName: string, spec: PermissionSpec) {
      await f.makeWorkspace(spec.workspace);
      const view = await permissionService.createPermission(db, SYSTEM_ACTOR, await f.groupId(groupName), {
        effect: spec.effect ?? 'allow',
        domain: { name: spec.domain },
        workspace: { text: spec.workspace },
        transitive: spec.transitive ?? false,
        ops: spec.operations,
        level: spec.level ?? 0,
        priority: spec.priority ?? 'low',
      });
      return view.permission;
    },

    /** An asset owned by a user, in a workspace (created when missing). */
    async makeAsset(spec: { name: string; owner: string; workspace: string; kind?: 'folder' | 'log' | 'model' | 'dashboard' }) {
      await f.makeWorkspace(spec.workspace);
      return assetService.register(db, SYSTEM_ACTOR, { kind: spec.kind ?? 'model', name: spec.name, owner: spec.owner }, { text: spec.workspace });
    },

    /** Sets a license type's seat limit (null: unlimited), by its key. */
    async seatLimit(licenseKey: string, seatLimit: number | null) {
      return licenseService.setSeatLimit(db, SYSTEM_ACTOR, await f.licenseId(licenseKey), { seatLimit });
    },

    /** Shares an asset (by id) with a group (by name): `viewer` or `editor`. */
    async share(assetId: number, groupName: string, access = 'viewer') {
      await assetService.share(db, SYSTEM_ACTOR, assetId, groupName, access);
    },

    /** Members of `requester` ask members of `approver` (both group names) for approval. */
    async relate(requester: string, approver: string) {
      return groupService.addRelation(db, SYSTEM_ACTOR, { requester, approver });
    },

    /** The token of a new machine client with the `scim` scope, owned (and acting as) this user: a directory's credentials. */
    async scimToken(owner: string) {
      const client = await f.makeClient({ owner, scopes: ['scim'], name: unique('directory').replace(/[^A-Za-z0-9._-]/g, '-') });
      return f.clientToken(client.id);
    },

    /** A webhook endpoint sent these event types; returns it with its signing secret. */
    async makeWebhook(url: string, eventTypes: string[], options: { enabled?: boolean; description?: string } = {}) {
      return webhookService.createEndpoint(db, config, SYSTEM_ACTOR, { url, eventTypes, enabled: options.enabled ?? true, description: options.description ?? '' });
    },

    /** An authenticator app (TOTP) for this user, with this base32 secret, as enrolment saves it. */
    async enrolTotp(username: string, secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP') {
      await factorsRepo.saveTotp(db, await f.userId(username), secret, 0);
    },

    /** A new personal API token of this user. */
    async token(username: string) {
      return (await tokenService.createToken(db, SYSTEM_ACTOR, await f.userId(username), { name: unique('test token') })).token;
    },

    /** A machine client owned by this user, made by the clients service (a unique name unless given). */
    async makeClient(spec: { owner: string; scopes: Scope[]; name?: string; rateLimitPerMinute?: number | null; description?: string }) {
      return clientService.createClient(db, SYSTEM_ACTOR, { name: spec.name ?? unique('client').replace(/[^A-Za-z0-9._-]/g, '-'), owner: spec.owner, scopes: spec.scopes, rateLimitPerMinute: spec.rateLimitPerMinute ?? null, description: spec.description ?? '' });
    },

    /** A new token of this machine client (its secret). */
    async clientToken(clientId: number, options: { expiresInDays?: number } = {}) {
      return (await clientService.issueToken(db, SYSTEM_ACTOR, clientId, { name: unique('client token'), ...options })).token;
    },
  };
  return f;
}

export type Factories = ReturnType<typeof factories>;
