/**
 * What a machine client's scopes let it call — the one place the rule lives. A client acts with its owner's
 * permissions (every operation still checks its own permission against the owner's role), and its scopes
 * narrow that further to kinds of calls:
 *
 * - `decisions`: the decision endpoints only (DECISION_PATHS: `/api/v1/check`, `/api/v1/check/batch`, and
 *   the AuthZEN endpoints under `/access/v1`). A decision path needs this scope whatever the method.
 * - `read`: every other GET (and HEAD) of the JSON API.
 * - `write`: every other POST, PUT, PATCH, DELETE of the JSON API, under the who-may-change-whom rule
 *   applied as the owner (src/users/policy.ts).
 * - `scim`: SCIM under `/scim/v2` only.
 * Scopes add up; none implies another (a client that changes what it reads holds both `read` and `write`).
 */
export const SCOPES = ['decisions', 'read', 'write', 'scim'] as const;
export type Scope = (typeof SCOPES)[number];

export const SCOPE_LABELS: Record<Scope, string> = {
  decisions: 'Decisions: the check endpoints and AuthZEN only',
  read: 'Read: GET operations of the API',
  write: 'Write: changes through the API, as the owner may make them',
  scim: 'SCIM: user and group provisioning under /scim/v2',
};

/**
 * Paths answered by the decision service. A path matches when it equals an entry or lies below it. Surfaces
 * that serve decisions (AuthZEN) add their prefix here.
 */
export const DECISION_PATHS: string[] = ['/api/v1/check', '/access/v1'];

/** Paths of SCIM provisioning. */
export const SCIM_PATHS: string[] = ['/scim/v2'];

const under = (path: string, prefixes: readonly string[]) => prefixes.some((p) => path === p || path.startsWith(`${p}/`));

/** The scope a client needs to make this request. */
export function requiredScope(method: string, path: string): Scope {
  if (under(path, DECISION_PATHS)) return 'decisions';
  if (under(path, SCIM_PATHS)) return 'scim';
  return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
}
