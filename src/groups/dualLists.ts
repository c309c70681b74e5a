import type { Conn } from '../db/connect';
import { wherePrefix } from '../db/connect';
import { sqlDualListSource, type DualListSource } from '../http/dualList';
import { prepareSearch, whereSearch, type PreparedSearch } from '../users/repo';
import { groupMembersSource } from './membersSource';

/** A user's groups: groups on one side, the user's memberships on the other (none yet for a new user). */
export function groupsOfUserSource(db: Conn, userId: number | null): DualListSource {
  return sqlDualListSource({
    db,
    from: (d) => d('groups'),
    idColumn: 'groups.id',
    assignedInDb: (q, assigned) => {
      if (userId === null) {
        if (assigned) q.whereRaw('1 = 0');
        return;
      }
      const member = db('group_members').select(db.raw('1')).whereRaw('group_members.group_id = groups.id').andWhere('group_members.user_id', userId);
      if (assigned) q.whereExists(member);
      else q.whereNotExists(member);
    },
    search: (q, text) => {
      const t = text.trim().toLowerCase();
      if (t) wherePrefix(q, 'groups.name_lower', t);
    },
    orderBy: ['groups.name_lower', 'groups.id'],
    select: ['groups.id', 'groups.name', 'groups.description'],
    toItem: (r) => ({ id: Number(r.id), label: String(r.name), detail: String(r.description ?? '') }),
  });
}

/**
 * A group's members: users not in the group on one side, members on the other. Tuned for large groups in a
 * large directory: see ./membersSource.ts.
 */
export function membersOfGroupSource(db: Conn, groupId: number): DualListSource {
  return groupMembersSource(db, groupId);
}

/**
 * A role's holders: users with another role on one side, the role's users on the other. Every user has
 * exactly one role, so each item shows the user's current role (assigning moves them from it).
 */
export function usersOfRoleSource(db: Conn, roleId: number): DualListSource {
  return sqlDualListSource({
    db,
    from: (d) => d('users'),
    join: (q) => q.leftJoin('roles', 'roles.id', 'users.role_id'),
    idColumn: 'users.id',
    assignedInDb: (q, assigned) => {
      if (assigned) q.where('users.role_id', roleId);
      else q.where((b) => b.whereNot('users.role_id', roleId).orWhereNull('users.role_id'));
    },
    // A union of prefix lookups, one index per column, like the users list (users/repo prepareSearch).
    prepare: (text) => prepareSearch(db, text),
    search: (q, text, prepared) => whereSearch(q, { q: text, search: (prepared as PreparedSearch | null | undefined) ?? null }),
    orderBy: ['users.username_lower'],
    select: ['users.id', 'users.username', 'users.first_name', 'users.last_name', 'users.email', 'roles.name as role_name'],
    toItem: (r) => ({
      id: Number(r.id),
      label: String(r.username),
      detail: `${[r.first_name, r.last_name].filter(Boolean).join(' ')} · ${r.email} · role: ${r.role_name ?? 'none'}`,
    }),
  });
}
