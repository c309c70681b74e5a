/** Gatehouse users and groups as SCIM resources (RFC 7643 §4). */
import type { User } from '../users/repo';
import { GATEHOUSE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA } from './schemas';
import type { GroupRow } from './repo';

export const etag = (version: number) => `W/"${version}"`;

/** The version an If-Match header names (`W/"3"`, `"3"`), or NaN when it names none; `*` matches any. */
export function versionOf(header: string): number | '*' {
  const t = header.trim();
  if (t === '*') return '*';
  const m = /^(?:W\/)?"(\d+)"$/.exec(t);
  return m ? Number(m[1]) : NaN;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function userResource(u: User, groups: Array<{ id: number; name: string }> | undefined, base: string): Record<string, unknown> {
  return {
    schemas: [USER_SCHEMA, GATEHOUSE_USER_SCHEMA],
    id: String(u.id),
    ...(u.externalId !== null ? { externalId: u.externalId } : {}),
    userName: u.username,
    name: { givenName: u.firstName, familyName: u.lastName },
    emails: [{ value: u.email, type: 'work', primary: true }],
    active: u.status === 'active',
    ...(groups ? { groups: groups.map((g) => ({ value: String(g.id), $ref: `${base}/Groups/${g.id}`, display: g.name, type: 'direct' })) } : {}),
    [GATEHOUSE_USER_SCHEMA]: { ...(u.roleName !== null ? { role: u.roleName } : {}), ...(u.licenseKey !== null ? { license: u.licenseKey } : {}) },
    meta: { resourceType: 'User', created: iso(u.createdAt), lastModified: iso(u.updatedAt), location: `${base}/Users/${u.id}`, version: etag(u.version) },
  };
}

export function groupResource(g: GroupRow, members: Array<{ id: number; username: string }> | undefined, base: string): Record<string, unknown> {
  return {
    schemas: [GROUP_SCHEMA],
    id: String(g.id),
    ...(g.externalId !== null ? { externalId: g.externalId } : {}),
    displayName: g.name,
    ...(members ? { members: members.map((m) => ({ value: String(m.id), $ref: `${base}/Users/${m.id}`, display: m.username, type: 'User' })) } : {}),
    meta: { resourceType: 'Group', created: iso(g.createdAt), lastModified: iso(g.updatedAt), location: `${base}/Groups/${g.id}`, version: etag(g.version) },
  };
}
