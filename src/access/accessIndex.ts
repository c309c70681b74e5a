/**
 * The in-memory index the decision engine works on — built from plain data (pure: no I/O), immutable once
 * built. The decision state (src/access/state.ts) builds it from the data it holds in memory, again
 * whenever a rule, workspace, cap or domain changes.
 *
 * Rules are indexed group -> domain -> workspace, separately for "exactly here" and "here and below"
 * (transitive). Matching the rules of one group for one workspace therefore looks at the workspace and its
 * ancestors only (or, when the group has fewer rules in that domain than the workspace is deep, scans those
 * few rules with an O(1) ancestor test): the cost never depends on how many rules exist in total.
 */
import { DOMAINS, OPERATIONS, type DomainKey, type Operation } from './catalog';
import { LICENSE_TYPES } from '../licenses/catalog';
import type { Rule } from './engine';

export interface WorkspaceInput {
  id: number;
  name: string;
  parentId: number | null;
  /** The suite's own id for the object the workspace stands for (unique), if any. */
  externalKey?: string | null;
}
export interface CapInput {
  licenseKey: string;
  domainKey: string;
  /** Operations allowed, e.g. "RMC". */
  ops: string;
}
export interface DomainInput {
  key: string;
  name: string;
  usesLevels: boolean;
}
export interface LicenseInput {
  key: string;
  name: string;
}
export interface AccessIndexInput {
  workspaces: WorkspaceInput[];
  rules: Rule[];
  caps: CapInput[];
  /** Defaults to the seeded catalog (src/access/catalog.ts). */
  domains?: readonly DomainInput[];
  /** Defaults to the seeded license types (src/licenses/catalog.ts); only used for names in explanations. */
  licenses?: readonly LicenseInput[];
  /** The change-log position this index was built at. */
  version?: number;
}

export interface WorkspaceNode {
  id: number;
  name: string;
  parentId: number | null;
  depth: number;
  path: string;
}

/** Which precedence classes a group has matches in, for one question (used by the reverse view). */
export interface GroupClasses {
  groupId: number;
  highDeny: boolean;
  highAllow: boolean;
  lowDeny: boolean;
  lowAllow: boolean;
}

const OP_BIT: Record<Operation, number> = { R: 1, M: 2, C: 4, D: 8 };

export function opMask(ops: string | Rule['ops']): number {
  if (typeof ops === 'string') {
    let m = 0;
    for (const ch of ops.toUpperCase()) if (ch in OP_BIT) m |= OP_BIT[ch as Operation];
    return m;
  }
  return (ops.R ? 1 : 0) | (ops.M ? 2 : 0) | (ops.C ? 4 : 0) | (ops.D ? 8 : 0);
}

interface Entry {
  rule: Rule;
  mask: number;
  allow: boolean;
  level: number;
  transitive: boolean;
  workspaceId: number;
  /** Euler-tour interval of the rule's workspace: W is at or below it when tin <= W.tin && W.tout <= tout. */
  tin: number;
  tout: number;
}

/** Where a workspace sits: its chain up to the root and its Euler-tour interval. */
interface Place {
  chain: Int32Array; // self, parent, ..., root
  tin: number;
  tout: number;
}

/** One group's rules in one domain. */
interface Bucket {
  all: Entry[];
  exact: Map<number, Entry[]>; // workspace -> every rule placed there
  below: Map<number, Entry[]>; // workspace -> transitive rules placed there
}

const EMPTY: readonly number[] = Object.freeze([]);
/** Group ids up to this are indexed densely (4 bytes each) in `groupDomains`. */
const MAX_DENSE_GROUP_ID = 1 << 22;

export class AccessIndex {
  readonly version: number;
  private readonly ws = new Map<number, WorkspaceNode>();
  private readonly chains = new Map<number, Int32Array>(); // self, parent, ..., root
  private readonly tin = new Map<number, number>();
  private readonly tout = new Map<number, number>();
  private readonly places = new Map<number, Place>();
  /**
   * Workspace paths by id in a plain array, when the ids are dense enough (ids up to 4 × the count + 1,024):
   * one read where `ws` is a hash lookup and a node, each a likely miss of the CPU cache — and every
   * decision's explanation names the workspace.
   */
  private pathAt: string[] = [];
  /** The same for `places` (every decision's rule matching starts from its workspace's place). */
  private placeAt: Array<Place | undefined> = [];
  private readonly kids = new Map<number, number[]>();
  private readonly byPath = new Map<string, number>();
  /** The same workspaces by their path as stored ('/Root/Sales'), where it finds what `byPath` finds: no lower-casing for the usual spelling. */
  private readonly byStoredPath = new Map<string, number>();
  private readonly byExternalKey = new Map<string, number>();
  private readonly externalKeys = new Map<number, string>();
  private readonly roots: number[] = [];
  private readonly groups = new Map<number, Map<string, Bucket>>();
  /**
   * Which domains each group has rules in, one bit per domain (its slot), indexed by group id: a few KB
   * that stay in the CPU cache, where `groups` is two hash lookups that each miss it. A decision asks
   * this first and looks up only the groups that have rules in the domain (about a third in the demo
   * data). Undefined when a group id is too large to index densely or there are more than 32 domains.
   */
  private groupDomains: Uint32Array | undefined;
  private readonly domainSlots = new Map<string, number>();
  private readonly byDomain = new Map<string, Bucket>(); // reverse view: domain -> workspace -> rules
  private readonly rulesById = new Map<number, Rule>();
  private readonly capMasks = new Map<string, Map<string, number>>();
  private readonly domainList: DomainInput[];
  private readonly domainsByKey = new Map<string, DomainInput>();
  private readonly domainsByLower = new Map<string, DomainInput>();
  private readonly licenseNames = new Map<string, string>();

  private constructor(input: AccessIndexInput) {
    this.version = input.version ?? 0;
    this.domainList = (input.domains ?? DOMAINS).map((d) => ({ key: d.key, name: d.name, usesLevels: d.usesLevels }));
    for (const d of this.domainList) {
      this.domainsByKey.set(d.key, d);
      this.domainsByLower.set(d.key.toLowerCase(), d);
      this.domainsByLower.set(d.name.toLowerCase(), d);
    }
    for (const l of input.licenses ?? LICENSE_TYPES) this.licenseNames.set(l.key, l.name);
    this.buildTree(input.workspaces);
    this.buildDenseWorkspaces();
    for (const c of input.caps) {
      let m = this.capMasks.get(c.licenseKey);
      if (!m) this.capMasks.set(c.licenseKey, (m = new Map()));
      m.set(c.domainKey, opMask(c.ops));
    }
    for (const rule of input.rules) this.addRule(rule);
    this.groupDomains = this.buildGroupDomains();
  }

  private buildGroupDomains(): Uint32Array | undefined {
    let max = 0;
    for (const id of this.groups.keys()) {
      if (!Number.isInteger(id) || id < 0 || id > MAX_DENSE_GROUP_ID) return undefined;
      if (id > max) max = id;
    }
    for (const domain of this.byDomain.keys()) {
      if (this.domainSlots.size >= 32) return undefined;
      this.domainSlots.set(domain, this.domainSlots.size);
    }
    const masks = new Uint32Array(max + 1);
    for (const [id, byDomain] of this.groups) for (const domain of byDomain.keys()) masks[id] |= 1 << this.domainSlots.get(domain)!;
    return masks;
  }

  static build(input: AccessIndexInput): AccessIndex {
    return new AccessIndex(input);
  }

  private buildTree(list: WorkspaceInput[]): void {
    for (const w of list) {
      this.ws.set(w.id, { id: w.id, name: w.name, parentId: w.parentId, depth: 0, path: '' });
      this.kids.set(w.id, []);
      if (w.externalKey) {
        this.byExternalKey.set(w.externalKey, w.id);
        this.externalKeys.set(w.id, w.externalKey);
      }
    }
    for (const w of list) {
      if (w.parentId !== null && this.ws.has(w.parentId) && w.parentId !== w.id) this.kids.get(w.parentId)!.push(w.id);
      else this.roots.push(w.id);
    }
    for (const k of this.kids.values()) k.sort((a, b) => this.ws.get(a)!.name.localeCompare(this.ws.get(b)!.name) || a - b);
    this.roots.sort((a, b) => a - b);
    // Iterative DFS from the roots: depth, path, ancestor chain and Euler-tour interval per node.
    // Nodes unreachable from a root (a cycle in bad data) are left out of the tree.
    let clock = 0;
    const stack: Array<{ id: number; next: number }> = [];
    for (const root of this.roots) {
      const r = this.ws.get(root)!;
      r.parentId = null;
      r.depth = 0;
      r.path = `/${r.name}`;
      this.chains.set(root, Int32Array.of(root));
      this.tin.set(root, clock++);
      stack.push({ id: root, next: 0 });
      while (stack.length) {
        const top = stack[stack.length - 1];
        const children = this.kids.get(top.id)!;
        if (top.next < children.length) {
          const c = children[top.next++];
          const parent = this.ws.get(top.id)!;
          const node = this.ws.get(c)!;
          node.depth = parent.depth + 1;
          node.path = `${parent.path}/${node.name}`;
          const pc = this.chains.get(top.id)!;
          const chain = new Int32Array(pc.length + 1);
          chain[0] = c;
          chain.set(pc, 1);
          this.chains.set(c, chain);
          this.tin.set(c, clock++);
          stack.push({ id: c, next: 0 });
        } else {
          this.tout.set(top.id, clock++);
          stack.pop();
        }
      }
    }
    for (const [id] of this.ws) {
      if (!this.chains.has(id)) {
        this.ws.delete(id);
        continue;
      }
      this.places.set(id, { chain: this.chains.get(id)!, tin: this.tin.get(id)!, tout: this.tout.get(id)! });
      const stored = this.ws.get(id)!.path;
      const lower = stored.toLowerCase();
      if (!this.byPath.has(lower)) {
        this.byPath.set(lower, id);
        this.byStoredPath.set(stored, id);
      }
    }
  }

  private buildDenseWorkspaces(): void {
    let max = -1;
    for (const id of this.ws.keys()) {
      if (!Number.isInteger(id) || id < 0 || id > 4 * this.ws.size + 1024) return;
      if (id > max) max = id;
    }
    // Filled first, so the array stays a plain (packed) one whatever order the ids come in.
    const at = new Array<string>(max + 1).fill('');
    for (const [id, node] of this.ws) at[id] = node.path;
    this.pathAt = at;
    const places = new Array<Place | undefined>(max + 1).fill(undefined);
    for (const [id, place] of this.places) places[id] = place;
    this.placeAt = places;
  }

  private addRule(rule: Rule): void {
    if (!this.ws.has(rule.workspaceId)) return;
    this.rulesById.set(rule.id, rule);
    const place = this.places.get(rule.workspaceId)!;
    const entry: Entry = {
      rule,
      mask: opMask(rule.ops),
      allow: rule.effect === 'allow',
      level: rule.level,
      transitive: rule.transitive,
      workspaceId: rule.workspaceId,
      tin: place.tin,
      tout: place.tout,
    };
    let g = this.groups.get(rule.groupId);
    if (!g) this.groups.set(rule.groupId, (g = new Map()));
    let b = g.get(rule.domainKey);
    if (!b) g.set(rule.domainKey, (b = newBucket()));
    addToBucket(b, entry);
    let d = this.byDomain.get(rule.domainKey);
    if (!d) this.byDomain.set(rule.domainKey, (d = newBucket()));
    addToBucket(d, entry);
  }

  // ---- workspaces -------------------------------------------------------------------------------------

  hasWorkspace(id: number): boolean {
    return this.ws.has(id);
  }

  workspace(id: number): WorkspaceNode | undefined {
    return this.ws.get(id);
  }

  /** '/Root/Sales/EMEA'; '#<id>' for an unknown id. */
  workspacePath(id: number): string {
    // '' in `pathAt`: an id it does not hold (every path starts with '/').
    return this.pathAt[id] || (this.ws.get(id)?.path ?? `#${id}`);
  }

  /**
   * '/Root/Sales/EMEA', case-insensitive; blanks around segments and a trailing slash are ignored. Like the
   * workspace picker, a path without the leading slash ('Sales/EMEA') is read below the root unless it
   * starts with the root's name.
   */
  workspaceByPath(path: string): number | undefined {
    // A path as stored ('/Root/Sales', any case) is found at once; only other spellings are normalised.
    const stored = this.byStoredPath.get(path);
    if (stored !== undefined) return stored;
    const direct = this.byPath.get(path.toLowerCase());
    if (direct !== undefined) return direct;
    const segments = path
      .split('/')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean);
    if (!segments.length) return undefined;
    const exact = this.byPath.get('/' + segments.join('/'));
    if (exact !== undefined || path.trim().startsWith('/')) return exact;
    for (const root of this.roots) {
      const found = this.byPath.get(`${this.ws.get(root)!.path.toLowerCase()}/${segments.join('/')}`);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** The workspace with this external key (exact match). */
  workspaceByExternalKey(key: string): number | undefined {
    const id = this.byExternalKey.get(key);
    return id !== undefined && this.ws.has(id) ? id : undefined;
  }

  externalKeyOf(id: number): string | undefined {
    return this.externalKeys.get(id);
  }

  /** Ancestors of a workspace, nearest first (excluding itself). */
  ancestors(id: number): number[] {
    const c = this.chains.get(id);
    return c ? Array.from(c.subarray(1)) : [];
  }

  /** The workspace itself, then its ancestors up to the root. */
  chain(id: number): readonly number[] {
    const c = this.chains.get(id);
    return c ? Array.from(c) : EMPTY;
  }

  /** Whether `ancestor` is `id` itself or above it. O(1). */
  isSelfOrAncestor(ancestor: number, id: number): boolean {
    const a = this.tin.get(ancestor);
    const b = this.tin.get(id);
    if (a === undefined || b === undefined) return false;
    return a <= b && this.tout.get(id)! <= this.tout.get(ancestor)!;
  }

  children(id: number): readonly number[] {
    return this.kids.get(id) ?? EMPTY;
  }

  rootIds(): readonly number[] {
    return this.roots;
  }

  /** Every workspace, depth-first in tree order (children by name). */
  workspaces(): WorkspaceNode[] {
    const out: WorkspaceNode[] = [];
    const visit = (id: number): void => {
      out.push(this.ws.get(id)!);
      for (const c of this.kids.get(id) ?? []) visit(c);
    };
    for (const r of this.roots) visit(r);
    return out;
  }

  get workspaceCount(): number {
    return this.ws.size;
  }

  // ---- domains and licenses ---------------------------------------------------------------------------

  domains(): readonly DomainInput[] {
    return this.domainList;
  }

  /** By key or by name, case-insensitive. */
  findDomain(keyOrName: string): DomainInput | undefined {
    return this.domainsByLower.get(keyOrName.trim().toLowerCase());
  }

  domainName(key: string): string {
    return this.domainsByKey.get(key)?.name ?? key;
  }

  usesLevels(key: string): boolean {
    return this.domainsByKey.get(key)?.usesLevels ?? false;
  }

  licenseName(key: string): string {
    return this.licenseNames.get(key) ?? key;
  }

  licenseAllows(licenseKey: string, domain: string, op: Operation): boolean {
    return ((this.capMasks.get(licenseKey)?.get(domain) ?? 0) & OP_BIT[op]) !== 0;
  }

  /** The operations a license allows in a domain, e.g. "RMC". */
  capOps(licenseKey: string, domain: string): string {
    const m = this.capMasks.get(licenseKey)?.get(domain) ?? 0;
    return OPERATIONS.filter((o) => m & OP_BIT[o]).join('');
  }

  /** License keys whose cap includes `op` in `domain`. */
  licensesAllowing(domain: string, op: Operation): string[] {
    const out: string[] = [];
    for (const [key, m] of this.capMasks) if ((m.get(domain) ?? 0) & OP_BIT[op]) out.push(key);
    return out;
  }

  // ---- rules ------------------------------------------------------------------------------------------

  get ruleCount(): number {
    return this.rulesById.size;
  }

  rule(id: number): Rule | undefined {
    return this.rulesById.get(id);
  }

  /** A group's rules, in one domain or in all. */
  rulesFor(groupId: number, domain?: DomainKey | string): Rule[] {
    const g = this.groups.get(groupId);
    if (!g) return [];
    if (domain !== undefined) return (g.get(domain)?.all ?? []).map((e) => e.rule);
    const out: Rule[] = [];
    for (const b of g.values()) for (const e of b.all) out.push(e.rule);
    return out;
  }

  /**
   * Step 2 of the decision: the rules of these groups that match (domain, op, scope, level).
   * Cost: for each group, min(its rules in the domain, depth of the workspace) — never the total rule count.
   */
  matchingRules(groupIds: readonly number[], domain: DomainKey | string, op: Operation, workspaceId: number, level = 0): Rule[] {
    const out: Rule[] = [];
    const place = this.placeAt[workspaceId] ?? this.places.get(workspaceId);
    if (!place) return out;
    const bit = OP_BIT[op];
    const levels = this.usesLevels(domain);
    const masks = this.groupDomains;
    if (masks) {
      const slot = this.domainSlots.get(domain);
      // No group has rules in this domain.
      if (slot === undefined) return out;
      const domainBit = 1 << slot;
      for (let i = 0; i < groupIds.length; i++) {
        const id = groupIds[i];
        // A group past the end has no rules at all; a clear bit, none in this domain.
        if (id >= masks.length || !(masks[id] & domainBit)) continue;
        const b = this.groups.get(id)?.get(domain);
        if (b) collect(b, place, bit, levels, level, out);
      }
      return out;
    }
    for (let i = 0; i < groupIds.length; i++) {
      const b = this.groups.get(groupIds[i])?.get(domain);
      if (b) collect(b, place, bit, levels, level, out);
    }
    return out;
  }

  /**
   * For the reverse view ("who may do op in domain on workspace"): every group with a matching rule and the
   * classes it matches in. Cost: the rules placed on the workspace and its ancestors in that domain.
   */
  groupClasses(domain: DomainKey | string, op: Operation, workspaceId: number, level = 0): GroupClasses[] {
    const place = this.places.get(workspaceId);
    const b = this.byDomain.get(domain);
    if (!place || !b) return [];
    const rules: Rule[] = [];
    walk(b, place.chain, OP_BIT[op], this.usesLevels(domain), level, rules);
    const byGroup = new Map<number, GroupClasses>();
    for (const r of rules) {
      let g = byGroup.get(r.groupId);
      if (!g) byGroup.set(r.groupId, (g = { groupId: r.groupId, highDeny: false, highAllow: false, lowDeny: false, lowAllow: false }));
      if (r.priority === 'high') {
        if (r.effect === 'deny') g.highDeny = true;
        else g.highAllow = true;
      } else if (r.effect === 'deny') g.lowDeny = true;
      else g.lowAllow = true;
    }
    return [...byGroup.values()];
  }
}

/** Scanning a bucket costs a few comparisons per rule; walking the chain a hash lookup per ancestor. */
const SCAN_FACTOR = 4;

/** The rules of one bucket matching at a place: scan them when few, else walk the place's chain. */
function collect(b: Bucket, place: Place, bit: number, levels: boolean, level: number, out: Rule[]): void {
  const all = b.all;
  if (all.length <= SCAN_FACTOR * place.chain.length) {
    const ws = place.chain[0];
    for (let i = 0; i < all.length; i++) {
      const e = all[i];
      if (!(e.mask & bit)) continue;
      if (levels && !(e.allow ? e.level >= level : level >= e.level)) continue;
      if (e.workspaceId === ws || (e.transitive && e.tin <= place.tin && place.tout <= e.tout)) out.push(e.rule);
    }
    return;
  }
  walk(b, place.chain, bit, levels, level, out);
}

function walk(b: Bucket, chain: Int32Array, bit: number, levels: boolean, level: number, out: Rule[]): void {
  const here = b.exact.get(chain[0]);
  if (here) push(here, bit, levels, level, out);
  for (let i = 1; i < chain.length; i++) {
    const above = b.below.get(chain[i]);
    if (above) push(above, bit, levels, level, out);
  }
}

function newBucket(): Bucket {
  return { all: [], exact: new Map(), below: new Map() };
}

function addToBucket(b: Bucket, e: Entry): void {
  b.all.push(e);
  const w = e.rule.workspaceId;
  let x = b.exact.get(w);
  if (!x) b.exact.set(w, (x = []));
  x.push(e);
  if (e.rule.transitive) {
    let t = b.below.get(w);
    if (!t) b.below.set(w, (t = []));
    t.push(e);
  }
}

function push(entries: Entry[], bit: number, levels: boolean, level: number, out: Rule[]): void {
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (!(e.mask & bit)) continue;
    if (levels && !(e.allow ? e.level >= level : level >= e.level)) continue;
    out.push(e.rule);
  }
}
