import type { DualListItem, DualListSource, Pending, Side } from '../db/dualListSource';
import { asArray } from './forms';
import { COUNT_CAP } from '../users/repo';

export type { DualListItem, DualListSource, Pending, Side };

/**
 * The dual list ("Users not in the group" ⇄ "Assigned users", `>` / `<`, Save) shared by group members,
 * role assignment and a user's groups. Its state travels in the form: pending additions and removals as
 * id lists, each side's search text and page. Both sides are searched and paged by the database, so the
 * page never loads the whole directory. Every action is a form submit (works without JavaScript);
 * htmx posts the same form and swaps only the component.
 */

export const DUAL_LIST_PAGE_SIZE = 25;
/** "Move all matching" resolves a search to ids; beyond this the administrator narrows the search. */
export const DUAL_LIST_BULK_CAP = 20_000;

export interface DualListState {
  name: string;
  pending: Pending;
  leftQ: string;
  rightQ: string;
  leftPage: number;
  rightPage: number;
  /** Ids shown on each side's current page (for "move this page"). */
  leftIds: number[];
  rightIds: number[];
  leftSelected: number[];
  rightSelected: number[];
}

function ids(value: unknown, cap = DUAL_LIST_BULK_CAP * 2): number[] {
  const out: number[] = [];
  for (const part of asArray(value).join(',').split(',')) {
    if (/^[1-9][0-9]{0,9}$/.test(part.trim())) out.push(Number(part.trim()));
    if (out.length >= cap) break;
  }
  return [...new Set(out)];
}

function pageNo(value: unknown): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 && n <= 1_000_000 ? n : 1;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, 100) : '';
}

/** Reads the component's state from a submitted form (or a fresh one when nothing was submitted). */
export function readState(name: string, body: Record<string, unknown> = {}): DualListState {
  return {
    name,
    pending: { add: ids(body[`${name}_add`]), remove: ids(body[`${name}_remove`]) },
    leftQ: text(body[`${name}_lq`]),
    rightQ: text(body[`${name}_rq`]),
    leftPage: pageNo(body[`${name}_lpage`]),
    rightPage: pageNo(body[`${name}_rpage`]),
    leftIds: ids(body[`${name}_lids`], 1000),
    rightIds: ids(body[`${name}_rids`], 1000),
    leftSelected: ids(body[`${name}_lsel`], 1000),
    rightSelected: ids(body[`${name}_rsel`], 1000),
  };
}

/** The operation a submit button names for this component (`<name>:<op>`), if any. */
export function operationFor(name: string, body: Record<string, unknown>): string | undefined {
  // htmx may send the button's value twice (its own value and hx-vals); they agree, take the first.
  const raw = Array.isArray(body.op) ? body.op[0] : body.op;
  const op = typeof raw === 'string' ? raw : '';
  // Enter in a form without JavaScript presses its first button (`op=enter`): when a search box of this
  // list holds text other than the search shown, Enter was meant to search it, not to save the form.
  if (op === 'enter') {
    const changed = (['l', 'r'] as const).some((s) => text(body[`${name}_${s}q`]) !== text(body[`${name}_${s}q_shown`]));
    return changed ? 'search' : undefined;
  }
  return op.startsWith(`${name}:`) ? op.slice(name.length + 1) : undefined;
}

function moveToAssigned(p: Pending, moving: number[]): Pending {
  const remove = new Set(p.remove);
  const add = new Set(p.add);
  for (const id of moving) {
    if (remove.has(id)) remove.delete(id);
    else add.add(id);
  }
  return { add: [...add], remove: [...remove] };
}

function moveToAvailable(p: Pending, moving: number[]): Pending {
  const remove = new Set(p.remove);
  const add = new Set(p.add);
  for (const id of moving) {
    if (add.has(id)) add.delete(id);
    else remove.add(id);
  }
  return { add: [...add], remove: [...remove] };
}

export class DualListLimitError extends Error {}

/** Applies a button's operation to the state. Unknown operations leave it as it is. */
export async function applyOperation(state: DualListState, op: string, source: DualListSource): Promise<DualListState> {
  const s = { ...state };
  switch (op) {
    case 'add':
      s.pending = moveToAssigned(s.pending, s.leftSelected);
      break;
    case 'remove':
      s.pending = moveToAvailable(s.pending, s.rightSelected);
      break;
    case 'add_page':
      s.pending = moveToAssigned(s.pending, s.leftIds);
      break;
    case 'remove_page':
      s.pending = moveToAvailable(s.pending, s.rightIds);
      break;
    case 'add_all': {
      const all = await source.ids('available', s.leftQ, s.pending, DUAL_LIST_BULK_CAP + 1);
      if (all.length > DUAL_LIST_BULK_CAP) throw new DualListLimitError(`More than ${DUAL_LIST_BULK_CAP.toLocaleString('en-US')} match; narrow the search first.`);
      s.pending = moveToAssigned(s.pending, all);
      break;
    }
    case 'remove_all': {
      const all = await source.ids('assigned', s.rightQ, s.pending, DUAL_LIST_BULK_CAP + 1);
      if (all.length > DUAL_LIST_BULK_CAP) throw new DualListLimitError(`More than ${DUAL_LIST_BULK_CAP.toLocaleString('en-US')} match; narrow the search first.`);
      s.pending = moveToAvailable(s.pending, all);
      break;
    }
    case 'reset':
      s.pending = { add: [], remove: [] };
      break;
    case 'search':
      s.leftPage = 1;
      s.rightPage = 1;
      break;
    default: {
      const m = /^(l|r)page:(\d{1,7})$/.exec(op);
      if (m) {
        if (m[1] === 'l') s.leftPage = pageNo(m[2]);
        else s.rightPage = pageNo(m[2]);
      }
    }
  }
  if (op !== 'search' && !op.includes('page:')) {
    s.leftSelected = [];
    s.rightSelected = [];
  }
  return s;
}

export interface DualListPane {
  q: string;
  page: number;
  pages: number;
  total: number;
  /** False when `total` is a bound ("more than 10,000"): the pages run on while rows come. */
  exact: boolean;
  items: Array<DualListItem & { pending: boolean }>;
}

export interface DualListView {
  name: string;
  state: DualListState;
  left: DualListPane;
  right: DualListPane;
  dirty: boolean;
  bulkCap: number;
  /** Counts stop here (see DualListPane.exact). */
  countCap: number;
  error?: string;
}

async function pane(source: DualListSource, side: Side, q: string, page: number, pending: Pending, marked: Set<number>): Promise<DualListPane> {
  let { items, total, exact = true } = await source.page(side, q, pending, DUAL_LIST_PAGE_SIZE, (page - 1) * DUAL_LIST_PAGE_SIZE);
  const known = Math.max(1, Math.ceil(total / DUAL_LIST_PAGE_SIZE));
  if (exact && page > known) {
    page = known;
    ({ items, total, exact = true } = await source.page(side, q, pending, DUAL_LIST_PAGE_SIZE, (page - 1) * DUAL_LIST_PAGE_SIZE));
  }
  // Past a bounded count, a full page means there may be another.
  const pages = exact ? known : Math.max(known, items.length === DUAL_LIST_PAGE_SIZE ? page + 1 : page);
  return { q, page, pages, total, exact, items: items.map((i) => ({ ...i, pending: marked.has(i.id) })) };
}

/** Everything the `partials/dual-list` template needs. */
export async function buildView(state: DualListState, source: DualListSource, error?: string): Promise<DualListView> {
  const left = await pane(source, 'available', state.leftQ, state.leftPage, state.pending, new Set(state.pending.remove));
  const right = await pane(source, 'assigned', state.rightQ, state.rightPage, state.pending, new Set(state.pending.add));
  return {
    name: state.name,
    state: { ...state, leftPage: left.page, rightPage: right.page },
    left,
    right,
    dirty: state.pending.add.length + state.pending.remove.length > 0,
    bulkCap: DUAL_LIST_BULK_CAP,
    countCap: COUNT_CAP,
    error,
  };
}
