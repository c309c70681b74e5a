/**
 * Who may change whom: the one rule every write path that touches an account applies (pages, API, bulk
 * actions, SCIM), whatever it changes — names, email, password, role, license, groups, status, sessions,
 * tokens, second factors.
 *
 * An actor may change another account only when the target's role holds no administration permission
 * that the actor's role lacks; only a Superuser changes a Superuser; one's own account is changed under
 * My account, never through the administration pages or API.
 *
 * And nobody raises their own rights: group memberships decide domain permissions, so nobody changes
 * their own memberships, nobody grants a domain permission to a group they belong to, and changing the
 * members of a group that carries domain permissions takes both "Manage users, groups and roles" and
 * "Manage access rights" (a users-only administrator could otherwise put an account they control into a
 * powerful group).
 */
import type { Conn } from '../db/connect';
import type { Actor } from '../http/types';
import { HttpError } from '../http/errors';
import { APP_PERMISSIONS, P, SUPERUSER_ROLE_KEY, type AppPermission } from '../permissions/catalog';
import * as roles from '../roles/repo';
import * as users from './repo';
import * as groups from '../groups/repo';

/** The permissions that administer Gatehouse itself: only holders may hand them on, or change holders. */
export const ADMIN_PERMISSIONS: readonly AppPermission[] = [P.usersManage, P.accessManage, P.apiAccess];

const LABELS = new Map<string, string>(APP_PERMISSIONS.map((p) => [p.key, p.label]));
export const permissionLabel = (k: string) => LABELS.get(k) ?? k;

export function quotedList(words: string[]): string {
  const quoted = words.map((w) => `“${w}”`);
  return quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} and ${quoted[quoted.length - 1]}`;
}

/** What the rule needs to know of a target account. */
export interface AccountRef {
  id: number;
  username: string;
  roleId: number | null;
  roleBuiltinKey: string | null;
}

/**
 * The rule for one actor, with the permission sets it reads cached: a bulk change of 20,000 users costs one
 * query per distinct role, not per user. Create one per transaction (`policyFor`).
 */
export class AccountPolicy {
  private actorPermissions?: Promise<Set<AppPermission>>;
  private readonly rolePermissions = new Map<number, Promise<AppPermission[]>>();

  constructor(
    private readonly db: Conn,
    readonly actor: Actor,
  ) {}

  /** The actor's own permissions, read from the database (not from what the request claims). */
  own(): Promise<Set<AppPermission>> {
    this.actorPermissions ??= (async () => {
      if (this.actor.id === null) return new Set<AppPermission>();
      const u = await users.findById(this.db, this.actor.id);
      return new Set(u?.roleId ? await roles.permissionsOf(this.db, u.roleId) : []);
    })();
    return this.actorPermissions;
  }

  private permissionsOfRole(roleId: number): Promise<AppPermission[]> {
    let p = this.rolePermissions.get(roleId);
    if (!p) this.rolePermissions.set(roleId, (p = roles.permissionsOf(this.db, roleId)));
    return p;
  }

  /** Administration permissions among `permissions` that the actor lacks. */
  async missing(permissions: Iterable<AppPermission>): Promise<AppPermission[]> {
    if (this.actor.isSuperuser) return [];
    const wanted = [...permissions].filter((p) => ADMIN_PERMISSIONS.includes(p));
    if (!wanted.length) return [];
    const own = await this.own();
    return wanted.filter((p) => !own.has(p));
  }

  /** Why the actor may not change this account (any field of it), or null. */
  async blocker(target: AccountRef): Promise<HttpError | null> {
    if (this.actor.id !== null && this.actor.id === target.id) {
      return new HttpError(403, 'self_protection', 'This is your own account: change it under My account. Nobody changes their own role, license, groups or status.');
    }
    if (this.actor.isSuperuser) return null;
    if (target.roleBuiltinKey === SUPERUSER_ROLE_KEY) return new HttpError(403, 'forbidden', `Only a Superuser may change ${target.username}, who is a Superuser.`);
    if (target.roleId === null) return null;
    const missing = await this.missing(await this.permissionsOfRole(target.roleId));
    if (missing.length) {
      return new HttpError(
        403,
        'forbidden',
        `You may not change ${target.username}: their role grants ${quotedList(missing.map(permissionLabel))}, which your own role does not include.`,
      );
    }
    return null;
  }

  async assertMayChange(target: AccountRef): Promise<void> {
    const b = await this.blocker(target);
    if (b) throw b;
  }

  /** The targets the actor may not change, each with its reason (bulk actions list them as skipped). */
  async blockers(targets: AccountRef[]): Promise<Map<number, HttpError>> {
    const out = new Map<number, HttpError>();
    for (const t of targets) {
      const b = await this.blocker(t);
      if (b) out.set(t.id, b);
    }
    return out;
  }

  /**
   * Changing who is in a group that carries domain permissions changes what its members may do in the
   * suite: that takes both administration permissions (a Superuser has them).
   */
  async membershipBlocker(group: { name: string; permissionCount: number }): Promise<HttpError | null> {
    if (this.actor.isSuperuser || group.permissionCount === 0) return null;
    const own = await this.own();
    if (own.has(P.usersManage) && own.has(P.accessManage)) return null;
    return new HttpError(
      403,
      'forbidden',
      `The group ${group.name} carries domain permissions, so changing its members changes what they may do: that needs both “${permissionLabel(P.usersManage)}” and “${permissionLabel(P.accessManage)}”.`,
    );
  }

  /**
   * Domain permissions of a group decide what its members may do: nobody changes them for a group they are
   * in (an access administrator could otherwise grant themself anything).
   */
  async ownGroupBlocker(group: { id: number; name: string }): Promise<HttpError | null> {
    if (this.actor.id === null) return null;
    if (!(await groups.memberOfAny(this.db, this.actor.id, [group.id])).size) return null;
    return new HttpError(
      403,
      'self_protection',
      `You are a member of ${group.name}: nobody changes the permissions of a group they belong to. Ask another administrator.`,
    );
  }
}

export const policyFor = (db: Conn, actor: Actor) => new AccountPolicy(db, actor);
