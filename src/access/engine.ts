/**
 * The decision of PRODUCT.md section 2 — pure code: no I/O, no clock (pass `now`), no database.
 *
 *   1. the subject must be active, not locked and hold a license, else deny (reason "account");
 *   2. collect the matching domain permissions of the subject's groups (domain, operation flag, scope:
 *      the rule's workspace is the asked one, or an ancestor of it and the rule is transitive; for domains
 *      with levels: an allow matches when rule.level >= L, a deny when L >= rule.level);
 *   3. the first class with a match decides: High Deny, High Allow, Low Deny, Low Allow; none: deny ("default");
 *   4. an allow outside the subject's license cap becomes a deny ("license").
 *
 * The cost of one decision depends on the subject's groups and the depth of the workspace only: rules are
 * indexed group -> domain -> workspace (see AccessIndex).
 */
import type { DomainKey, Operation } from './catalog';
import { OPERATION_NAMES } from './catalog';

export type { DomainKey, Operation } from './catalog';
export type Effect = 'allow' | 'deny';
export type Priority = 'high' | 'low';

export interface RuleOps {
  R: boolean;
  M: boolean;
  C: boolean;
  D: boolean;
}

/**
 * What the decision needs to look up: the rules that match, and names for the explanation. The access
 * index (src/access/accessIndex.ts) provides it; the engine itself stays free of how rules are stored.
 */
export interface RuleIndex {
  matchingRules(groupIds: readonly number[], domain: DomainKey | string, op: Operation, workspaceId: number, level?: number): Rule[];
  licenseAllows(licenseKey: string, domain: string, op: Operation): boolean;
  domainName(key: string): string;
  workspacePath(id: number): string;
  usesLevels(key: string): boolean;
  licenseName(key: string): string;
}

/** One domain permission of a group. `level` only means something for domains that use levels. */
export interface Rule {
  id: number;
  groupId: number;
  groupName: string;
  effect: Effect;
  domainKey: DomainKey;
  workspaceId: number;
  transitive: boolean;
  ops: RuleOps;
  level: number;
  priority: Priority;
}

/** Who asks: loaded per check (never cached), so user edits need no index rebuild. */
export interface Subject {
  userId: number;
  username: string;
  active: boolean;
  /** Epoch ms; locked while lockedUntil > now. */
  lockedUntil: number | null;
  licenseKey: string | null;
  groupIds: number[];
}

export type Reason = 'account' | 'rule' | 'default' | 'license';

export interface Decision {
  allowed: boolean;
  reason: Reason;
  /** The rule whose class decided (also set when the license then capped the allow); null for account/default. */
  decidedBy: Rule | null;
  /** Every matching rule, the deciding one first, then by class (High Deny, High Allow, Low Deny, Low Allow). */
  matched: Rule[];
  /** One human sentence. */
  explanation: string;
}

export function classRank(rule: Pick<Rule, 'effect' | 'priority'>): number {
  return rule.priority === 'high' ? (rule.effect === 'deny' ? 0 : 1) : rule.effect === 'deny' ? 2 : 3;
}

export function classLabel(rule: Pick<Rule, 'effect' | 'priority'>): string {
  return `${rule.priority === 'high' ? 'High' : 'Low'} ${rule.effect === 'allow' ? 'Allow' : 'Deny'}`;
}

/** "RMC" for a rule's flags. */
export function opsString(ops: RuleOps): string {
  return (ops.R ? 'R' : '') + (ops.M ? 'M' : '') + (ops.C ? 'C' : '') + (ops.D ? 'D' : '');
}

/** Whether the rule's level condition holds for element level `level` (domains without levels: always). */
export function levelMatches(rule: Pick<Rule, 'effect' | 'level'>, level: number): boolean {
  return rule.effect === 'allow' ? rule.level >= level : level >= rule.level;
}

/** Account check of step 1; returns the problem as a phrase, or null when the subject may be decided on. */
export function accountProblem(subject: Subject, now: number): string | null {
  if (!subject.active) return 'the account is deactivated';
  if (subject.lockedUntil !== null && subject.lockedUntil > now) {
    return `the account is locked until ${new Date(subject.lockedUntil).toISOString().replace('T', ' ').slice(0, 16)} UTC`;
  }
  if (!subject.licenseKey) return 'the user holds no license';
  return null;
}

export function decide(
  index: RuleIndex,
  subject: Subject,
  domain: DomainKey,
  op: Operation,
  workspaceId: number,
  level = 0,
  now = 0,
  explain = true,
): Decision {
  // 1. account
  const problem = accountProblem(subject, now);
  if (problem) {
    return { allowed: false, reason: 'account', decidedBy: null, matched: [], explanation: explain ? `Denied: ${subject.username} may not ${describeAsk(index, op, domain, workspaceId, level)} because ${problem}.` : '' };
  }

  // 2. matching rules (each class keeps its rules in the order found)
  const matched = index.matchingRules(subject.groupIds, domain, op, workspaceId, level);

  // 3. precedence
  let decidedBy: Rule | null = null;
  for (const r of matched) {
    if (decidedBy === null || classRank(r) < classRank(decidedBy)) decidedBy = r;
    if (classRank(decidedBy) === 0) break;
  }
  if (!explain) return verdictOnly(index, subject, domain, op, matched, decidedBy);
  const who = subject.username;
  if (decidedBy === null) {
    return {
      allowed: false,
      reason: 'default',
      decidedBy: null,
      matched: [],
      explanation: `Denied by default: no permission of ${who}'s groups grants ${OPERATION_NAMES[op]} on ${index.domainName(domain)} at ${index.workspacePath(workspaceId)}${levelSuffix(index, domain, level)}.`,
    };
  }
  // Described only now: most decisions are denials by default, which do not use it.
  const doing = describeAsk(index, op, domain, workspaceId, level);
  const ordered = matched.length === 1 ? matched : orderMatches(matched, decidedBy);
  let alsoText = '';
  if (ordered.length > 1) {
    alsoText = `; also matched: ${describeRule(index, ordered[1])}`;
    for (let i = 2; i < ordered.length; i++) alsoText += `; ${describeRule(index, ordered[i])}`;
  }

  if (decidedBy.effect === 'deny') {
    return {
      allowed: false,
      reason: 'rule',
      decidedBy,
      matched: ordered,
      explanation: `Denied: ${who} may not ${doing}, decided by ${describeRule(index, decidedBy)}${alsoText}.`,
    };
  }

  // 4. license cap
  if (!index.licenseAllows(subject.licenseKey!, domain, op)) {
    return {
      allowed: false,
      reason: 'license',
      decidedBy,
      matched: ordered,
      explanation: `Denied by license: ${describeRule(index, decidedBy)} would allow it, but the ${index.licenseName(subject.licenseKey!)} license of ${who} does not include ${OPERATION_NAMES[op]} in ${index.domainName(domain)}${alsoText}.`,
    };
  }
  return {
    allowed: true,
    reason: 'rule',
    decidedBy,
    matched: ordered,
    explanation: `Allowed: ${who} may ${doing}, decided by ${describeRule(index, decidedBy)}${alsoText}.`,
  };
}

/**
 * The same decision without its sentence (`explanation` is ''), for answers that do not carry it: the
 * sentence names every matched rule and costs more than the decision itself.
 */
function verdictOnly(index: RuleIndex, subject: Subject, domain: DomainKey, op: Operation, matched: Rule[], decidedBy: Rule | null): Decision {
  if (decidedBy === null) return { allowed: false, reason: 'default', decidedBy: null, matched: [], explanation: '' };
  const ordered = matched.length === 1 ? matched : orderMatches(matched, decidedBy);
  if (decidedBy.effect === 'deny') return { allowed: false, reason: 'rule', decidedBy, matched: ordered, explanation: '' };
  if (!index.licenseAllows(subject.licenseKey!, domain, op)) return { allowed: false, reason: 'license', decidedBy, matched: ordered, explanation: '' };
  return { allowed: true, reason: 'rule', decidedBy, matched: ordered, explanation: '' };
}

/** The deciding rule first, then the others by class and id. */
function orderMatches(matched: Rule[], decidedBy: Rule): Rule[] {
  const rest = matched.filter((r) => r !== decidedBy).sort((a, b) => classRank(a) - classRank(b) || a.id - b.id);
  return [decidedBy, ...rest];
}

function levelSuffix(index: RuleIndex, domain: DomainKey, level: number): string {
  return index.usesLevels(domain) ? ` (element level ${level})` : '';
}

function describeAsk(index: RuleIndex, op: Operation, domain: DomainKey, workspaceId: number, level: number): string {
  return `${OPERATION_NAMES[op].toLowerCase()} ${index.domainName(domain)} at ${index.workspacePath(workspaceId)}${levelSuffix(index, domain, level)}`;
}

/** "High Allow #12 of group Sales on /Root (transitive, RM, level 3)". */
export function describeRule(index: RuleIndex, r: Rule): string {
  const bits = [r.transitive ? 'transitive' : 'not transitive', opsString(r.ops)];
  if (index.usesLevels(r.domainKey)) bits.push(`level ${r.level}`);
  return `${classLabel(r)} #${r.id} of group ${r.groupName} on ${index.workspacePath(r.workspaceId)} (${bits.join(', ')})`;
}
