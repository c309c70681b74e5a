/**
 * How Gatehouse's decision (PRODUCT.md section 2) maps onto the OpenID AuthZEN Authorization API 1.0 — the
 * one place this is defined; the OpenAPI document (tag "AuthZEN") and the API reference page quote it.
 *
 *   subject   {type: "user", id: <username>}                 the username, case-insensitive. Another type
 *                                                              names nobody: the decision is false (searches
 *                                                              find nothing). `properties` are ignored.
 *   action    {name: "read" | "modify" | "write" | "create" | "delete"}
 *                                                              R, M, C, D. `write` is another name for
 *                                                              Modify (PRODUCT.md section 6): the suite's
 *                                                              "write" changes what exists, as Modify does;
 *                                                              creating is `create`. Names are compared
 *                                                              ignoring case; any other name is denied.
 *   resource  {type: <domain>, id: <workspace>, properties: {level}}
 *                                                              type: the domain's key or name (ignoring
 *                                                              case), e.g. "processes" or "record" for a
 *                                                              domain a Superuser added. id, tried in this
 *                                                              order: a workspace's external key (exact),
 *                                                              a path ("/Root/Sales", ignoring case), a
 *                                                              workspace id (digits). properties.level: the
 *                                                              element level 0–9 in a domain with levels
 *                                                              (default 0); ignored elsewhere.
 *   context   ignored by the decision, except `consistency_token` (a change-log position a write
 *             returned: the answer reflects at least that write; also the `Gatehouse-Consistency-Token`
 *             header).
 *
 * The answer's context:
 *   reason_user   {en: "<one short sentence>"}
 *   reason_admin  {en: "<the full explanation>", reason: account | rule | default | license | unknown,
 *                  rung: "High Deny" | "High Allow" | "Low Deny" | "Low Allow" | null,
 *                  permission: <the deciding domain permission: id, group, effect, priority, domain,
 *                               workspace, transitive, operations, level> | null,
 *                  group, workspace: of the deciding permission, or null,
 *                  other_matches: [<every other matching permission, by precedence>]}
 *   error         {status: 400 | 404, message} when the item could not be decided (unknown user, domain,
 *                 workspace, action or subject type; a missing entity in a batch item). The decision is
 *                 then false.
 * In a batch (POST /access/v1/evaluations) a decided item is `{decision}` alone — the spec's context is
 * optional and building the explanations costs several times the decision — unless the request sets
 * `options.explain: true` (Gatehouse's option); then every item has the context above. An item with an
 * `error` keeps its context either way, and the deny that stops `deny_on_first_deny` carries
 * `{code: "200", reason: "deny_on_first_deny"}` (merged into its context when it has one).
 *
 * Searches answer in the same terms: subjects {type: "user", id: <username>}, resources {type: <the type
 * asked for>, id: <external key, else path>}, actions {name}: every name an allowed operation answers to
 * (Modify: "modify" and "write").
 */
import type { Operation } from '../access/catalog';
import { classLabel, type Decision, type Rule } from '../access/engine';
import type { AccessIndex } from '../access/accessIndex';
import { ruleJson } from '../access/api';
import { MAX_LEVEL } from '../access/catalog';

export const SUBJECT_TYPE = 'user';

const ACTION_OPERATIONS: Record<string, Operation> = { read: 'R', modify: 'M', write: 'M', create: 'C', delete: 'D' };

/** Every action name, in the order an action search lists them. */
export const ACTION_NAMES = Object.keys(ACTION_OPERATIONS);

/** The operation an action name stands for; undefined for a name Gatehouse does not know. */
export function operationOf(actionName: string): Operation | undefined {
  return ACTION_OPERATIONS[actionName.trim().toLowerCase()];
}

/** The names an operation answers to, as an action search lists them. */
export function actionNamesOf(op: Operation): string[] {
  return ACTION_NAMES.filter((n) => ACTION_OPERATIONS[n] === op);
}

/** The workspace a resource id names: its external key, a path, or an id — in that order. */
export function workspaceOf(index: AccessIndex, resourceId: string): number | undefined {
  const byKey = index.workspaceByExternalKey(resourceId);
  if (byKey !== undefined) return byKey;
  const byPath = resourceId.includes('/') ? index.workspaceByPath(resourceId) : undefined;
  if (byPath !== undefined) return byPath;
  if (/^\d{1,10}$/.test(resourceId) && index.hasWorkspace(Number(resourceId))) return Number(resourceId);
  return undefined;
}

/** How a workspace is named in search results: its external key, else its path. */
export function resourceIdOf(index: AccessIndex, workspaceId: number): string {
  return index.externalKeyOf(workspaceId) ?? index.workspacePath(workspaceId);
}

/** `resource.properties.level`: an integer 0–9, or a message saying what is wrong. */
export function levelOf(properties: Record<string, unknown> | undefined): { level: number } | { problem: string } {
  const raw = properties?.level;
  if (raw === undefined || raw === null) return { level: 0 };
  const n = typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : raw;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_LEVEL) return { problem: `resource.properties.level must be an integer from 0 to ${MAX_LEVEL}.` };
  return { level: n };
}

export interface DecisionContext {
  reason_user: { en: string };
  reason_admin: {
    en: string;
    reason: Decision['reason'] | 'unknown';
    rung: string | null;
    permission: ReturnType<typeof ruleJson> | null;
    group: string | null;
    workspace: string | null;
    other_matches: Array<ReturnType<typeof ruleJson>>;
  };
  error?: { status: number; message: string };
}

const USER_REASONS: Record<Decision['reason'], (allowed: boolean) => string> = {
  account: () => 'Your account cannot be used right now (deactivated, locked or without a license).',
  rule: (allowed) => (allowed ? 'Allowed by your permissions.' : 'Your permissions do not allow this.'),
  default: () => 'You have no permission for this.',
  license: () => 'Your license does not include this.',
};

/** The context of a decided question: a short reason for the user, the whole explanation for an administrator. */
export function decisionContext(index: AccessIndex, d: Decision): DecisionContext {
  const deciding: Rule | null = d.decidedBy;
  return {
    reason_user: { en: USER_REASONS[d.reason](d.allowed) },
    reason_admin: {
      en: d.explanation,
      reason: d.reason,
      rung: deciding ? classLabel(deciding) : null,
      permission: deciding ? ruleJson(index, deciding) : null,
      group: deciding ? deciding.groupName : null,
      workspace: deciding ? index.workspacePath(deciding.workspaceId) : null,
      other_matches: d.matched.filter((r) => r !== deciding).map((r) => ruleJson(index, r)),
    },
  };
}

/** The context of a question that could not be decided (the decision is false). */
export function undecidedContext(status: 400 | 404, message: string): DecisionContext {
  return {
    reason_user: { en: status === 404 ? 'Access cannot be decided for this request.' : 'The request could not be evaluated.' },
    reason_admin: { en: `Denied: ${message}`, reason: 'unknown', rung: null, permission: null, group: null, workspace: null, other_matches: [] },
    error: { status, message },
  };
}
