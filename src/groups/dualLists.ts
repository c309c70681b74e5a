import type { Conn } from '../db/connect';
import { likePrefix } from '../db/connect';
import { sqlDualListSource, type DualListSource } from '../http/dualList';
import { applySearch } from '../users/repo';

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
      if (t) q.where('groups.name_lower', 'like', likePrefix(t));
    },
    orderBy: ['groups.name_lower', 'groups.id'],
    select: ['groups.id', 'groups.name', 'groups.description'],
    toItem: (r) => ({ id: Number(r.id), label: String(r.name), detail: String(r.description ?? '') }),
  });
}

/** A group's members: users not in the group on one side, members on the other. */
export function membersOfGroupSource(db: Conn, groupId: number): DualListSource {
  return sqlDualListSource({
    db,
    from: (d) => d('users'),
    idColumn: 'users.id',
    assignedInDb: (q, assigned) => {
      const member = db('group_members').select(db.raw('1')).whereRaw('group_members.user_id = users.id').andWhere('group_members.group_id', groupId);
      if (assigned) q.whereExists(member);
      else q.whereNotExists(member);
    },
    search: (q, text) => applySearch(q, text),
    orderBy: ['users.username_lower'],
    select: ['users.id', 'users.username', 'users.first_name', 'users.last_name', 'users.email'],
    toItem: (r) => ({ id: Number(r.id), label: String(r.username), detail: `${[r.first_name, r.last_name].filter(Boolean).join(' ')} · ${r.email}` }),
  });
}
