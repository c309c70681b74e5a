/**
 * The access explorer (console pages over the decision engine of src/access/service.ts; no decision logic
 * here):
 *   /access       a user and a workspace → domains × R/M/C/D, each cell allowed or denied; a cell opens its
 *                 explanation (reason, deciding permission with its group and workspace, every other match)
 *   /access/who   the reverse: for a domain, an operation and a workspace, who may and who may not (paged)
 */
import type Koa from 'koa';
import { sendCsv } from '../http/csv';
import { can, get } from '../http/routing';
import { P } from '../permissions/catalog';
import { fragment, page, wantsFragment } from '../http/render';
import * as users from '../users/repo';
import * as workspaces from '../workspaces/service';
import * as workspaceRepo from '../workspaces/repo';
import { pickerRef } from '../workspaces/picker';
import { MAX_LEVEL, OPERATIONS, OPERATION_NAMES, type Operation } from './catalog';
import { classLabel, opsString, type Decision, type Rule } from './engine';
import type { AccessIndex } from './accessIndex';
import * as service from './service';

const manage = can(P.accessManage);
const WHO_PAGE_SIZE = 25;

const str = (v: unknown) => (typeof v === 'string' ? v : '');

const REASONS: Record<Decision['reason'], string> = {
  account: 'the account cannot be granted anything (deactivated, locked or without a license).',
  rule: 'a domain permission of one of the user’s groups decided.',
  default: 'no permission of the user’s groups matches, and nothing is allowed unless explicitly allowed.',
  license: 'a permission allows it, but the user’s license does not include this operation in this domain.',
};

/** A rule as the explanation shows it. */
function ruleView(index: AccessIndex, r: Rule) {
  return {
    id: r.id,
    groupId: r.groupId,
    groupName: r.groupName,
    effect: r.effect,
    priority: r.priority,
    classLabel: classLabel(r),
    domain: index.domainName(r.domainKey),
    workspaceId: r.workspaceId,
    workspacePath: index.workspacePath(r.workspaceId),
    transitive: r.transitive,
    ops: opsString(r.ops),
    level: index.usesLevels(r.domainKey) ? r.level : null,
  };
}

function explanationView(index: AccessIndex, d: Decision, ask: { domainKey: string; domainName: string; op: Operation; workspacePath: string; level: number; usesLevels: boolean; licenseKey: string | null }) {
  return {
    allowed: d.allowed,
    reason: d.reason,
    reasonText: REASONS[d.reason],
    sentence: d.explanation,
    decidedBy: d.decidedBy ? ruleView(index, d.decidedBy) : null,
    others: d.matched.filter((r) => r !== d.decidedBy).map((r) => ruleView(index, r)),
    domainName: ask.domainName,
    opName: OPERATION_NAMES[ask.op],
    op: ask.op,
    workspacePath: ask.workspacePath,
    level: ask.usesLevels ? ask.level : null,
    license: ask.licenseKey ? { name: index.licenseName(ask.licenseKey), caps: index.capOps(ask.licenseKey, ask.domainKey) } : null,
  };
}

function parseLevel(raw: string, errors: Record<string, string>): number {
  if (!raw.trim()) return 0;
  if (!/^\s*\d{1,2}\s*$/.test(raw) || Number(raw) > MAX_LEVEL) {
    errors.level = `Level must be a whole number from 0 to ${MAX_LEVEL}.`;
    return 0;
  }
  return Number(raw);
}

// ------------------------------------------------------------------------------------------------ /access

async function explorer(ctx: Koa.Context) {
  const { db } = ctx.services;
  const q = ctx.query;
  const values = {
    user: str(q.user).trim().slice(0, 200),
    workspace: str(q.workspace).slice(0, workspaces.PATH_MAX + 1),
    workspaceId: str(q.workspaceId),
    level: str(q.level).slice(0, 10),
    domain: str(q.domain).slice(0, 100),
    op: str(q.op).slice(0, 2),
  };
  const errors: Record<string, string> = {};
  const asked = !!(values.user || values.workspace || values.workspaceId);
  const level = parseLevel(values.level, errors);
  let subject: Awaited<ReturnType<typeof service.loadSubject>>;
  if (asked) {
    if (!values.user) errors.user = 'Choose a user.';
    else if (values.user.length > 64) errors.user = 'There is no user with such a long username.';
    else if (!(subject = await service.loadSubject(db, values.user))) errors.user = `There is no user "${values.user}".`;
  }
  let workspaceId: number | undefined;
  if (asked) {
    const ref = pickerRef({ workspace: values.workspace, workspaceId: values.workspaceId }, 'workspace');
    // No workspace chosen: start at the root.
    const r = ref.text || ref.id ? await workspaces.resolveRef(db, ref) : await workspaces.resolveRef(db, { id: (await workspaceRepo.findRoot(db)).id });
    if (r.ok) {
      workspaceId = r.workspace.id;
      values.workspace = r.path;
      values.workspaceId = String(r.workspace.id);
    } else errors.workspace = r.message;
  }
  const status = Object.keys(errors).length ? 422 : 200;
  let grid: Awaited<ReturnType<typeof service.effectivePermissions>> | undefined;
  let explanation: ReturnType<typeof explanationView> | undefined;
  let selected: { domain: string; op: string } | undefined;
  if (status === 200 && subject && workspaceId !== undefined) {
    grid = await service.effectivePermissions(db, subject.userId, workspaceId, level);
    const row = grid.rows.find((r) => r.domain.key === values.domain);
    const op = (OPERATIONS as readonly string[]).includes(values.op) ? (values.op as Operation) : undefined;
    if (row && op) {
      selected = { domain: row.domain.key, op };
      explanation = explanationView(grid.index, row.cells[op], {
        domainKey: row.domain.key,
        domainName: row.domain.name,
        op,
        workspacePath: grid.workspacePath,
        level,
        usesLevels: row.domain.usesLevels,
        licenseKey: grid.subject.licenseKey,
      });
    } else if (values.domain || values.op) {
      errors._ = 'That cell does not exist: choose a domain and one of R, M, C, D.';
    }
  }
  const data = {
    title: grid ? `Access of ${grid.subject.username} at ${grid.workspacePath}` : 'Access explorer',
    values,
    errors,
    grid: grid ? gridView(grid) : undefined,
    subject: grid ? subjectView(grid) : undefined,
    explanation,
    selected,
    query: { user: grid?.subject.username ?? values.user, workspace: values.workspace, workspaceId: values.workspaceId, level: level || undefined },
  };
  if (wantsFragment(ctx, 'explanation')) return fragment(ctx, 'access/_explanation', data, errors._ ? 404 : status);
  if (wantsFragment(ctx, 'explorer')) return fragment(ctx, 'access/_explorer', data, status);
  page(ctx, 'access/explorer', data, status);
}

type Grid = Awaited<ReturnType<typeof service.effectivePermissions>>;

function gridView(g: Grid) {
  return {
    workspacePath: g.workspacePath,
    workspaceId: g.workspaceId,
    level: g.level,
    rows: g.rows.map((r) => ({
      key: r.domain.key,
      name: r.domain.name,
      usesLevels: r.domain.usesLevels,
      cells: OPERATIONS.map((op) => ({ op, opName: OPERATION_NAMES[op], allowed: r.cells[op].allowed, reason: r.cells[op].reason })),
    })),
  };
}

function subjectView(g: Grid) {
  const s = g.subject;
  const now = Date.now();
  return {
    id: s.userId,
    username: s.username,
    name: [s.firstName, s.lastName].filter(Boolean).join(' '),
    status: !s.active ? 'Deactivated' : s.lockedUntil !== null && s.lockedUntil > now ? 'Locked' : 'Active',
    license: s.licenseKey ? g.index.licenseName(s.licenseKey) : null,
    groups: s.groupIds.length,
  };
}

// -------------------------------------------------------------------------------------------- /access/who

async function who(ctx: Koa.Context) {
  const { db } = ctx.services;
  const index = await service.getIndex(db);
  const q = ctx.query;
  const values = {
    domain: str(q.domain).slice(0, 100),
    op: str(q.op).slice(0, 2).toUpperCase(),
    workspace: str(q.workspace).slice(0, workspaces.PATH_MAX + 1),
    workspaceId: str(q.workspaceId),
    level: str(q.level).slice(0, 10),
    show: str(q.show) === 'not' ? 'not' : 'may',
    q: str(q.q).trim().slice(0, 100),
  };
  const asked = !!(values.domain || values.op || values.workspace || values.workspaceId);
  const errors: Record<string, string> = {};
  const level = parseLevel(values.level, errors);
  const domain = values.domain ? index.findDomain(values.domain) : undefined;
  if (asked && !domain) errors.domain = values.domain ? 'Choose one of the offered domains.' : 'Choose a domain.';
  const op = (OPERATIONS as readonly string[]).includes(values.op) ? (values.op as Operation) : undefined;
  if (asked && !op) errors.op = 'Choose an operation: R, M, C or D.';
  let workspaceId: number | undefined;
  if (asked) {
    const r = await workspaces.resolveRef(db, pickerRef({ workspace: values.workspace, workspaceId: values.workspaceId }, 'workspace'));
    if (r.ok) {
      workspaceId = r.workspace.id;
      values.workspace = r.path;
      values.workspaceId = String(r.workspace.id);
    } else errors.workspace = r.message;
  }
  if (domain && !domain.usesLevels && level !== 0) errors.level = `Levels apply only to ${index.domains().filter((d) => d.usesLevels).map((d) => d.name).join(', ')}.`;
  const pageNo = Math.max(1, Math.min(100_000, Number.parseInt(str(q.page), 10) || 1));
  const status = Object.keys(errors).length ? 422 : 200;
  let result: Record<string, unknown> | undefined;
  if (str(q.format) === 'csv' && asked && status === 200 && domain && op && workspaceId !== undefined) {
    // Every user of the chosen side (may / may not), streamed through the shared CSV writer.
    const allowed = values.show === 'may';
    const wsId = workspaceId;
    return sendCsv(
      ctx,
      `who-${allowed ? 'may' : 'may-not'}-${OPERATION_NAMES[op].toLowerCase()}-${domain.key}.csv`,
      ['username', 'first_name', 'last_name', 'decision', 'reason', 'explanation'],
      (async function* () {
        for (let offset = 0; ; offset += 1000) {
          const list = await service.whoMay(db, domain.key, op, wsId, { allowed, limit: 1000, offset, q: values.q || undefined, level });
          if (!list.users.length) return;
          yield list.users.map((u) => [u.username, u.firstName, u.lastName, u.decision.allowed ? 'allowed' : 'denied', u.decision.reason, u.decision.explanation]);
          if (list.users.length < 1000) return;
        }
      })(),
    );
  }
  if (asked && status === 200 && domain && op && workspaceId !== undefined) {
    const allowed = values.show === 'may';
    const list = await service.whoMay(db, domain.key, op, workspaceId, { allowed, limit: WHO_PAGE_SIZE, offset: (pageNo - 1) * WHO_PAGE_SIZE, q: values.q || undefined, level });
    const other = await service.whoMay(db, domain.key, op, workspaceId, { allowed: !allowed, limit: 1, offset: 0, q: values.q || undefined, level });
    result = {
      domainName: list.domain.name,
      opName: OPERATION_NAMES[op],
      workspacePath: list.workspacePath,
      level: domain.usesLevels ? level : null,
      mayTotal: allowed ? list.total : other.total,
      notTotal: allowed ? other.total : list.total,
      total: list.total,
      pages: Math.max(1, Math.ceil(list.total / WHO_PAGE_SIZE)),
      users: list.users.map((u) => ({
        id: u.id,
        username: u.username,
        name: [u.firstName, u.lastName].filter(Boolean).join(' '),
        allowed: u.decision.allowed,
        reason: u.decision.reason,
        decidedBy: u.decision.decidedBy ? ruleView(list.index, u.decision.decidedBy) : null,
        sentence: u.decision.explanation,
      })),
    };
  }
  const data = {
    title: result ? `Who may ${OPERATION_NAMES[op!].toLowerCase()} ${domain!.name} at ${values.workspace}` : 'Who may…',
    values,
    errors,
    page: pageNo,
    result,
    domains: index.domains(),
    operations: OPERATIONS.map((o) => ({ key: o, name: OPERATION_NAMES[o] })),
    maxLevel: MAX_LEVEL,
    base: { domain: domain?.key ?? values.domain, op: values.op, workspace: values.workspace, level: level || undefined, show: values.show, q: values.q || undefined },
  };
  if (wantsFragment(ctx, 'who-results')) return fragment(ctx, 'access/_who-results', data, status);
  page(ctx, 'access/who', data, status);
}

export const routes = [
  get('/access', manage, explorer),
  get('/access/who', manage, who),
];
