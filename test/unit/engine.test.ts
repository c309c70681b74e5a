import { describe, expect, it } from 'vitest';
import { AccessIndex, type CapInput } from '../../src/access/accessIndex';
import { decide, levelMatches, type Decision, type DomainKey, type Operation, type Rule, type Subject } from '../../src/access/engine';
import { DOMAINS, OPERATIONS } from '../../src/access/catalog';
import { effectiveFor } from '../../src/access/service';

/**
 * Section 2 of PRODUCT.md, rule by rule, on a small tree:
 *
 *   /Root (1)
 *   ├── Sales (2)
 *   │   └── EMEA (3)
 *   │       └── Berlin (4)
 *   └── HR (5)
 */
const TREE = [
  { id: 1, name: 'Root', parentId: null },
  { id: 2, name: 'Sales', parentId: 1 },
  { id: 3, name: 'EMEA', parentId: 2 },
  { id: 4, name: 'Berlin', parentId: 3 },
  { id: 5, name: 'HR', parentId: 1 },
];
const WS = { root: 1, sales: 2, emea: 3, berlin: 4, hr: 5 } as const;
type WsName = keyof typeof WS;

const GROUPS: Record<number, string> = { 10: 'Editors', 20: 'Auditors', 30: 'Contractors' };

/** The caps exactly as PRODUCT.md's table states them (written out here, not taken from the seed code). */
const ALL = 'RMCD';
function capOf(license: string, domain: string): string {
  switch (license) {
    case 'process_modeler':
      return ALL;
    case 'project_manager':
      return domain === 'processes' ? 'R' : ALL;
    case 'process_participant':
      return domain === 'comments' || domain === 'feedback' ? 'RMC' : 'R';
    case 'process_viewer':
      return ['compliance', 'processes', 'users', 'workspaces'].includes(domain) ? 'R' : '';
    default:
      return '';
  }
}
const LICENSES = ['process_modeler', 'project_manager', 'process_participant', 'process_viewer'];
const CAPS: CapInput[] = LICENSES.flatMap((l) => DOMAINS.map((d) => ({ licenseKey: l, domainKey: d.key, ops: capOf(l, d.key) })));

let nextId = 1;
interface RuleSpec {
  group?: number;
  effect?: 'allow' | 'deny';
  priority?: 'high' | 'low';
  domain?: DomainKey;
  ws?: WsName;
  transitive?: boolean;
  ops?: string;
  level?: number;
  id?: number;
}
function rule(s: RuleSpec = {}): Rule {
  const ops = s.ops ?? 'R';
  const group = s.group ?? 10;
  return {
    id: s.id ?? nextId++,
    groupId: group,
    groupName: GROUPS[group] ?? `Group ${group}`,
    effect: s.effect ?? 'allow',
    domainKey: s.domain ?? 'files',
    workspaceId: WS[s.ws ?? 'root'],
    transitive: s.transitive ?? false,
    ops: { R: ops.includes('R'), M: ops.includes('M'), C: ops.includes('C'), D: ops.includes('D') },
    level: s.level ?? 0,
    priority: s.priority ?? 'low',
  };
}

function index(rules: Rule[]): AccessIndex {
  return AccessIndex.build({ workspaces: TREE, rules, caps: CAPS });
}

function subject(s: Partial<Subject> = {}): Subject {
  return { userId: 1, username: 'alice', active: true, lockedUntil: null, licenseKey: 'process_modeler', groupIds: [10], ...s };
}

const NOW = Date.UTC(2026, 0, 15, 12, 0);

function ask(rules: Rule[], q: { ws?: WsName; op?: Operation; domain?: DomainKey; level?: number; subject?: Partial<Subject> } = {}): Decision {
  return decide(index(rules), subject(q.subject), q.domain ?? 'files', q.op ?? 'R', WS[q.ws ?? 'root'], q.level ?? 0, NOW);
}

// -----------------------------------------------------------------------------------------------------------

describe('the Stages example', () => {
  // Transitive Low Deny on the root + non-transitive High Allow on the root:
  // the user may read the root workspace and no workspace below it.
  const rules = [rule({ effect: 'deny', priority: 'low', transitive: true }), rule({ effect: 'allow', priority: 'high', transitive: false })];
  it.each([
    ['root', true],
    ['sales', false],
    ['emea', false],
    ['berlin', false],
    ['hr', false],
  ] as Array<[WsName, boolean]>)('read on %s → %s', (ws, allowed) => {
    const d = ask(rules, { ws });
    expect(d.allowed).toBe(allowed);
    expect(d.reason).toBe('rule');
    expect(d.decidedBy).toBe(allowed ? rules[1] : rules[0]);
    expect(d.matched).toEqual(allowed ? [rules[1], rules[0]] : [rules[0]]);
  });
});

describe('scope: transitive vs not', () => {
  const cases: Array<[string, RuleSpec, Record<WsName, boolean>]> = [
    ['non-transitive on Sales', { ws: 'sales', transitive: false }, { root: false, sales: true, emea: false, berlin: false, hr: false }],
    ['transitive on Sales', { ws: 'sales', transitive: true }, { root: false, sales: true, emea: true, berlin: true, hr: false }],
    ['transitive on Root', { ws: 'root', transitive: true }, { root: true, sales: true, emea: true, berlin: true, hr: true }],
    ['non-transitive on Root', { ws: 'root', transitive: false }, { root: true, sales: false, emea: false, berlin: false, hr: false }],
    ['transitive on Berlin (a leaf)', { ws: 'berlin', transitive: true }, { root: false, sales: false, emea: false, berlin: true, hr: false }],
    ['transitive on HR', { ws: 'hr', transitive: true }, { root: false, sales: false, emea: false, berlin: false, hr: true }],
  ];
  for (const [name, spec, expected] of cases) {
    for (const [ws, allowed] of Object.entries(expected) as Array<[WsName, boolean]>) {
      it(`${name}: read on ${ws} → ${allowed ? 'allow' : 'deny'}`, () => {
        const d = ask([rule(spec)], { ws });
        expect(d.allowed).toBe(allowed);
        expect(d.reason).toBe(allowed ? 'rule' : 'default');
      });
    }
  }

  it('a rule scoped below the asked workspace never matches it (no upward inheritance)', () => {
    const d = ask([rule({ ws: 'berlin', transitive: true, effect: 'deny', priority: 'high' }), rule({ ws: 'sales', transitive: true })], { ws: 'emea' });
    expect(d.allowed).toBe(true);
    expect(d.matched).toHaveLength(1);
  });
});

describe('precedence: High Deny > High Allow > Low Deny > Low Allow', () => {
  const CLASSES = [
    { name: 'High Deny', effect: 'deny', priority: 'high', rank: 0 },
    { name: 'High Allow', effect: 'allow', priority: 'high', rank: 1 },
    { name: 'Low Deny', effect: 'deny', priority: 'low', rank: 2 },
    { name: 'Low Allow', effect: 'allow', priority: 'low', rank: 3 },
  ] as const;

  // Every pair, in both orders, in one group and split over two groups; on the same workspace and with the
  // stronger one inherited from an ancestor (the class decides, not the distance).
  const pairs: Array<[(typeof CLASSES)[number], (typeof CLASSES)[number]]> = [];
  for (const a of CLASSES) for (const b of CLASSES) if (a !== b) pairs.push([a, b]);
  for (const [a, b] of pairs) {
    const winner = a.rank < b.rank ? a : b;
    for (const layout of ['same group', 'two groups', 'a inherited from Root'] as const) {
      it(`${a.name} vs ${b.name} (${layout}) → ${winner.name} decides`, () => {
        const ra = rule({ effect: a.effect, priority: a.priority, group: 10, ws: layout === 'a inherited from Root' ? 'root' : 'emea', transitive: true });
        const rb = rule({ effect: b.effect, priority: b.priority, group: layout === 'same group' ? 10 : 20, ws: 'emea' });
        const d = ask([ra, rb], { ws: 'emea', subject: { groupIds: [10, 20] } });
        expect(d.allowed).toBe(winner.effect === 'allow');
        expect(d.reason).toBe('rule');
        expect(d.decidedBy).toBe(winner === a ? ra : rb);
        expect(d.matched).toHaveLength(2);
        expect(d.matched[0]).toBe(d.decidedBy);
      });
    }
  }

  // Every non-empty combination of the four classes: the strongest present decides.
  for (let mask = 1; mask < 16; mask++) {
    const present = CLASSES.filter((_, i) => mask & (1 << i));
    const strongest = present[0];
    it(`{${present.map((c) => c.name).join(', ')}} → ${strongest.name}`, () => {
      const rules = present.map((c, i) => rule({ effect: c.effect, priority: c.priority, group: [10, 20, 30][i % 3], ws: 'root', transitive: true }));
      const d = ask(rules, { ws: 'berlin', subject: { groupIds: [10, 20, 30] } });
      expect(d.allowed).toBe(strongest.effect === 'allow');
      expect(d.decidedBy).toBe(rules[0]);
      expect(d.matched.map((r) => r.id)).toEqual(rules.map((r) => r.id));
    });
  }
});

describe('several groups', () => {
  it('collects the matches of every group the user belongs to, and only those', () => {
    const a = rule({ group: 10, effect: 'allow', priority: 'low', ws: 'sales', transitive: true });
    const b = rule({ group: 20, effect: 'deny', priority: 'low', ws: 'emea' });
    const c = rule({ group: 30, effect: 'deny', priority: 'high', ws: 'root', transitive: true });
    const rules = [a, b, c];
    expect(ask(rules, { ws: 'emea', subject: { groupIds: [10] } })).toMatchObject({ allowed: true, decidedBy: a });
    expect(ask(rules, { ws: 'emea', subject: { groupIds: [10, 20] } })).toMatchObject({ allowed: false, decidedBy: b, matched: [b, a] });
    expect(ask(rules, { ws: 'berlin', subject: { groupIds: [10, 20] } })).toMatchObject({ allowed: true, decidedBy: a, matched: [a] });
    expect(ask(rules, { ws: 'emea', subject: { groupIds: [10, 20, 30] } })).toMatchObject({ allowed: false, decidedBy: c, matched: [c, b, a] });
    expect(ask(rules, { ws: 'emea', subject: { groupIds: [] } })).toMatchObject({ allowed: false, reason: 'default', matched: [] });
  });

  it('a High Allow in one group beats a Low Deny in another', () => {
    const deny = rule({ group: 10, effect: 'deny', priority: 'low', ws: 'root', transitive: true });
    const allow = rule({ group: 20, effect: 'allow', priority: 'high', ws: 'hr' });
    expect(ask([deny, allow], { ws: 'hr', subject: { groupIds: [10, 20] } })).toMatchObject({ allowed: true, decidedBy: allow, matched: [allow, deny] });
  });
});

describe('domain and operation must match', () => {
  it.each(OPERATIONS.flatMap((flagged) => OPERATIONS.map((asked) => [flagged, asked] as const)))('rule with %s, asked %s', (flagged, asked) => {
    const d = ask([rule({ ops: flagged, domain: 'reports' })], { op: asked, domain: 'reports' });
    expect(d.allowed).toBe(flagged === asked);
    expect(d.reason).toBe(flagged === asked ? 'rule' : 'default');
  });

  it('a rule with several flags matches each of them', () => {
    for (const op of OPERATIONS) expect(ask([rule({ ops: 'RMCD' })], { op }).allowed).toBe(true);
    expect(ask([rule({ ops: 'RC' })], { op: 'M' }).allowed).toBe(false);
  });

  it('a rule in another domain does not match', () => {
    const d = ask([rule({ domain: 'files', effect: 'allow', priority: 'high' })], { domain: 'reports' });
    expect(d).toMatchObject({ allowed: false, reason: 'default', decidedBy: null, matched: [] });
  });
});

describe('levels (Processes only)', () => {
  it.each([
    // [rule effect, rule level, asked level, matches]
    ['allow', 3, 0, true],
    ['allow', 3, 3, true],
    ['allow', 3, 4, false],
    ['allow', 0, 0, true],
    ['allow', 0, 1, false],
    ['allow', 9, 9, true],
    ['deny', 5, 4, false],
    ['deny', 5, 5, true],
    ['deny', 5, 9, true],
    ['deny', 9, 8, false],
    ['deny', 9, 9, true],
  ] as Array<['allow' | 'deny', number, number, boolean]>)('%s at level %i, element level %i → matches: %s', (effect, ruleLevel, asked, matches) => {
    expect(levelMatches({ effect, level: ruleLevel }, asked)).toBe(matches);
    const r = rule({ domain: 'processes', effect, level: ruleLevel, priority: 'high' });
    const d = ask([r], { domain: 'processes', level: asked });
    expect(d.matched).toEqual(matches ? [r] : []);
    expect(d.allowed).toBe(effect === 'allow' && matches);
  });

  it('a deny at level 0 denies every level', () => {
    const allow = rule({ domain: 'processes', effect: 'allow', level: 9, priority: 'low', transitive: true });
    const deny = rule({ domain: 'processes', effect: 'deny', level: 0, priority: 'low' });
    for (let level = 0; level <= 9; level++) {
      expect(ask([allow, deny], { domain: 'processes', level }), `level ${level}`).toMatchObject({ allowed: false, decidedBy: deny });
      // Below the root the deny (not transitive) does not reach: the allow decides.
      expect(ask([allow, deny], { domain: 'processes', level, ws: 'sales' }).allowed).toBe(true);
    }
  });

  it('an allow up to 9 with a deny from 5: levels 0–4 allowed, 5–9 denied', () => {
    const rules = [rule({ domain: 'processes', effect: 'allow', level: 9 }), rule({ domain: 'processes', effect: 'deny', level: 5 })];
    for (let level = 0; level <= 9; level++) expect(ask(rules, { domain: 'processes', level }).allowed, `level ${level}`).toBe(level < 5);
  });

  it('the element level defaults to 0', () => {
    const d = decide(index([rule({ domain: 'processes', level: 0 })]), subject(), 'processes', 'R', WS.root);
    expect(d.allowed).toBe(true);
  });

  it('domains without levels ignore both the rule level and the asked level', () => {
    const allow = rule({ domain: 'files', effect: 'allow', level: 0 });
    const deny = rule({ domain: 'reports', effect: 'deny', level: 7, priority: 'high' });
    expect(ask([allow], { domain: 'files', level: 9 })).toMatchObject({ allowed: true, decidedBy: allow });
    expect(ask([deny, rule({ domain: 'reports' })], { domain: 'reports', level: 0 })).toMatchObject({ allowed: false, decidedBy: deny });
  });
});

describe('account check comes first', () => {
  const allowAll = rule({ effect: 'allow', priority: 'high', ops: 'RMCD', transitive: true });
  it.each([
    ['deactivated', { active: false }, /deactivated/],
    ['locked', { lockedUntil: NOW + 60_000 }, /locked until 2026-01-15 12:01 UTC/],
    ['without a license', { licenseKey: null }, /no license/],
  ] as Array<[string, Partial<Subject>, RegExp]>)('a %s user is denied with reason account', (_, s, text) => {
    const d = ask([allowAll], { subject: s });
    expect(d).toMatchObject({ allowed: false, reason: 'account', decidedBy: null, matched: [] });
    expect(d.explanation).toMatch(text);
  });

  it('a lock that has run out no longer counts', () => {
    expect(ask([allowAll], { subject: { lockedUntil: NOW } }).allowed).toBe(true);
    expect(ask([allowAll], { subject: { lockedUntil: NOW - 1 } }).allowed).toBe(true);
    expect(ask([allowAll], { subject: { lockedUntil: NOW + 1 } }).reason).toBe('account');
  });
});

describe('default deny', () => {
  it('with no rules at all', () => {
    const d = ask([]);
    expect(d).toMatchObject({ allowed: false, reason: 'default', decidedBy: null, matched: [] });
    expect(d.explanation).toMatch(/^Denied by default: no permission of alice's groups grants Read on Files at \/Root\.$/);
  });
  it('with rules only for groups the user is not in', () => {
    expect(ask([rule({ group: 20, transitive: true })], { ws: 'sales' }).reason).toBe('default');
  });
});

describe('license caps (PRODUCT.md table)', () => {
  // A High Allow of everything everywhere, so only the license can refuse.
  const everything = DOMAINS.map((d) => rule({ domain: d.key, ops: 'RMCD', priority: 'high', transitive: true, level: 9 }));
  const idx = index(everything);

  const TABLE: Array<[string, string, string]> = [
    // [license, domain, operations allowed]
    ['process_modeler', '*', 'RMCD'],
    ['project_manager', 'processes', 'R'],
    ['project_manager', '* but processes', 'RMCD'],
    ['process_participant', 'comments', 'RMC'],
    ['process_participant', 'feedback', 'RMC'],
    ['process_participant', '* but comments, feedback', 'R'],
    ['process_viewer', 'compliance', 'R'],
    ['process_viewer', 'processes', 'R'],
    ['process_viewer', 'users', 'R'],
    ['process_viewer', 'workspaces', 'R'],
    ['process_viewer', '* but compliance, processes, users, workspaces', ''],
  ];
  for (const [license, domainSpec, ops] of TABLE) {
    const domains = DOMAINS.map((d) => d.key).filter((k) => {
      if (domainSpec === '*') return true;
      if (domainSpec.startsWith('* but ')) return !domainSpec.slice(6).split(', ').includes(k);
      return k === domainSpec;
    });
    it(`${license}: ${domainSpec} → ${ops || 'nothing'}`, () => {
      expect(domains.length).toBeGreaterThan(0);
      for (const domain of domains) {
        for (const op of OPERATIONS) {
          const d = decide(idx, subject({ licenseKey: license }), domain, op, WS.emea, 0, NOW);
          expect(d.allowed, `${domain} ${op}`).toBe(ops.includes(op));
          expect(d.reason).toBe(ops.includes(op) ? 'rule' : 'license');
          expect(d.decidedBy?.domainKey).toBe(domain);
        }
      }
    });
  }

  it('the cap only turns an allow into a deny; a deny stays a deny by rule', () => {
    const deny = rule({ domain: 'processes', ops: 'M', effect: 'deny', priority: 'high' });
    const d = decide(index([deny]), subject({ licenseKey: 'project_manager' }), 'processes', 'M', WS.root, 0, NOW);
    expect(d).toMatchObject({ allowed: false, reason: 'rule', decidedBy: deny });
    const none = decide(index([]), subject({ licenseKey: 'process_viewer' }), 'files', 'R', WS.root, 0, NOW);
    expect(none.reason).toBe('default');
  });

  it('the license explanation names the license and the rule that would have allowed', () => {
    const allow = rule({ domain: 'processes', ops: 'M', priority: 'high', group: 20 });
    const d = decide(index([allow]), subject({ licenseKey: 'project_manager', groupIds: [20] }), 'processes', 'M', WS.root, 0, NOW);
    expect(d).toMatchObject({ allowed: false, reason: 'license', decidedBy: allow });
    expect(d.explanation).toContain('Project manager license');
    expect(d.explanation).toContain('group Auditors');
  });

  it('a license without caps allows nothing', () => {
    const d = decide(index([rule({ priority: 'high' })]), subject({ licenseKey: 'homemade' }), 'files', 'R', WS.root, 0, NOW);
    expect(d.reason).toBe('license');
  });
});

describe('the explanation', () => {
  it('names the decision, the deciding permission with its group and every other match', () => {
    const hd = rule({ id: 901, group: 20, effect: 'deny', priority: 'high', ws: 'sales', transitive: true, ops: 'RM' });
    const la = rule({ id: 902, group: 10, effect: 'allow', priority: 'low', ws: 'root', transitive: true });
    const ld = rule({ id: 903, group: 30, effect: 'deny', priority: 'low', ws: 'emea' });
    const d = ask([la, ld, hd], { ws: 'emea', subject: { groupIds: [10, 20, 30] } });
    expect(d.matched.map((r) => r.id)).toEqual([901, 903, 902]);
    expect(d.explanation).toBe(
      'Denied: alice may not read Files at /Root/Sales/EMEA, decided by High Deny #901 of group Auditors on /Root/Sales (transitive, RM)' +
        '; also matched: Low Deny #903 of group Contractors on /Root/Sales/EMEA (not transitive, R); Low Allow #902 of group Editors on /Root (transitive, R).',
    );
  });
  it('is one sentence for an allow without other matches, with the level for Processes', () => {
    const r = rule({ id: 950, domain: 'processes', level: 4, ops: 'RM' });
    expect(ask([r], { domain: 'processes', op: 'M', level: 2 }).explanation).toBe(
      'Allowed: alice may modify Processes at /Root (element level 2), decided by Low Allow #950 of group Editors on /Root (not transitive, RM, level 4).',
    );
  });
});

describe('the index', () => {
  const idx = index([]);
  it('gives paths and finds workspaces by path, case-insensitively', () => {
    expect(idx.workspacePath(WS.berlin)).toBe('/Root/Sales/EMEA/Berlin');
    expect(idx.workspaceByPath('/root/sales/emea')).toBe(WS.emea);
    expect(idx.workspaceByPath('/ROOT/SALES/')).toBe(WS.sales);
    expect(idx.workspaceByPath('/Root/Nowhere')).toBeUndefined();
    expect(idx.workspaceByPath('/Sales')).toBeUndefined();
    expect(idx.workspaceByPath('Sales/EMEA')).toBe(WS.emea);
    expect(idx.workspaceByPath('Root/Sales')).toBe(WS.sales);
    expect(idx.workspaceByPath(' / Root / HR ')).toBe(WS.hr);
    expect(idx.workspaceByPath('/')).toBeUndefined();
  });
  it('lists ancestors nearest first', () => {
    expect(idx.ancestors(WS.berlin)).toEqual([WS.emea, WS.sales, WS.root]);
    expect(idx.ancestors(WS.root)).toEqual([]);
    expect(idx.isSelfOrAncestor(WS.sales, WS.berlin)).toBe(true);
    expect(idx.isSelfOrAncestor(WS.hr, WS.berlin)).toBe(false);
  });
  it('finds domains by name or key, case-insensitively', () => {
    expect(idx.findDomain('processes')?.name).toBe('Processes');
    expect(idx.findDomain('Process Import/Export')?.key).toBe('process_import_export');
    expect(idx.findDomain('PROCESS_RELEASE')?.name).toBe('Process Release');
    expect(idx.findDomain('Nope')).toBeUndefined();
  });
  it('an unknown workspace matches nothing', () => {
    expect(decide(index([rule({ transitive: true })]), subject(), 'files', 'R', 999, 0, NOW).reason).toBe('default');
  });
  it('survives a cycle in bad data by leaving the cycle out', () => {
    const bad = AccessIndex.build({
      workspaces: [...TREE, { id: 7, name: 'A', parentId: 8 }, { id: 8, name: 'B', parentId: 7 }],
      rules: [],
      caps: [],
    });
    expect(bad.hasWorkspace(7)).toBe(false);
    expect(bad.workspaceCount).toBe(5);
  });
});

describe('the effective grid', () => {
  it('decides every domain × operation', () => {
    const idx = index([rule({ domain: 'reports', ops: 'RM', transitive: true }), rule({ domain: 'processes', ops: 'R', level: 2 })]);
    const grid = effectiveFor(idx, subject({ licenseKey: 'process_participant' }), WS.root, 3, NOW);
    expect(grid.rows).toHaveLength(DOMAINS.length);
    const reports = grid.rows.find((r) => r.domain.key === 'reports')!;
    expect(reports.cells.R.allowed).toBe(true);
    expect(reports.cells.M).toMatchObject({ allowed: false, reason: 'license' });
    expect(reports.cells.C.reason).toBe('default');
    // level 3 above the allow's level 2
    expect(grid.rows.find((r) => r.domain.key === 'processes')!.cells.R.allowed).toBe(false);
  });
});

describe('agrees with a literal reading of section 2 on random data', () => {
  // A deep random tree and many random rules; the indexed engine must give the same decision and the same
  // set of matches as the spec applied naively to every rule.
  function rng(seed: number) {
    let s = seed >>> 0;
    return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  }
  it('on 3,000 random questions', () => {
    const rand = rng(42);
    const pick = <T,>(a: readonly T[]) => a[Math.floor(rand() * a.length)];
    const ws = [{ id: 1, name: 'Root', parentId: null as number | null }];
    for (let i = 2; i <= 200; i++) ws.push({ id: i, name: `W${i}`, parentId: Math.max(1, i - 1 - Math.floor(rand() * 4)) });
    const parent = new Map(ws.map((w) => [w.id, w.parentId]));
    const groups = Array.from({ length: 12 }, (_, i) => i + 1);
    const domains = ['processes', 'files', 'reports'] as const;
    const rules: Rule[] = [];
    for (let i = 1; i <= 600; i++) {
      // group 1 gets many rules (index walk), the others few (bucket scan): both paths are exercised
      const g = rand() < 0.5 ? 1 : pick(groups);
      rules.push({
        id: i,
        groupId: g,
        groupName: `G${g}`,
        effect: rand() < 0.5 ? 'allow' : 'deny',
        domainKey: pick(domains),
        workspaceId: pick(ws).id,
        transitive: rand() < 0.5,
        ops: { R: rand() < 0.6, M: rand() < 0.4, C: rand() < 0.3, D: rand() < 0.2 },
        level: Math.floor(rand() * 10),
        priority: rand() < 0.3 ? 'high' : 'low',
      });
    }
    const idx = AccessIndex.build({ workspaces: ws, rules, caps: CAPS });
    const isAncestor = (a: number, w: number) => {
      for (let p = parent.get(w); p != null; p = parent.get(p)) if (p === a) return true;
      return false;
    };
    for (let q = 0; q < 3000; q++) {
      const s = subject({ groupIds: groups.filter(() => rand() < 0.3), licenseKey: pick(LICENSES) });
      const domain = pick(domains);
      const op = pick(OPERATIONS);
      const w = pick(ws).id;
      const level = Math.floor(rand() * 10);
      const lv = domain === 'processes';
      const matches = rules.filter(
        (r) =>
          s.groupIds.includes(r.groupId) &&
          r.domainKey === domain &&
          r.ops[op] &&
          (r.workspaceId === w || (r.transitive && isAncestor(r.workspaceId, w))) &&
          (!lv || (r.effect === 'allow' ? r.level >= level : level >= r.level)),
      );
      const has = (p: string, e: string) => matches.some((r) => r.priority === p && r.effect === e);
      let allowed = has('high', 'deny') ? false : has('high', 'allow') ? true : has('low', 'deny') ? false : has('low', 'allow');
      let reason = matches.length ? 'rule' : 'default';
      if (allowed && !capOf(s.licenseKey!, domain).includes(op)) {
        allowed = false;
        reason = 'license';
      }
      const d = decide(idx, s, domain, op, w, level, NOW);
      expect({ allowed: d.allowed, reason: d.reason }, `question ${q}`).toEqual({ allowed, reason });
      // Without its sentence (AuthZEN batches) the decision is the same in every other respect.
      expect(decide(idx, s, domain, op, w, level, NOW, false), `question ${q} unexplained`).toEqual({ ...d, explanation: '' });
      expect(d.matched.map((r) => r.id).sort((a, b) => a - b)).toEqual(matches.map((r) => r.id));
    }
  });
});
