/**
 * The decision engine at scale, against node-casbin on the same policy in the same run.
 *   npm run bench:decision [-- --sizes 1000,10000,100000 --casbin-seconds 4 --verify-seconds 30 --checks 200000 --batches 30 --no-http --keep-db]
 *
 * Data (seeded, reproducible): 100,000 users in ~5 of 5,000 groups each, 10,000 workspaces up to depth 12,
 * domain permissions at each size (each size is a prefix of one random list of 100,000).
 * For each size:
 *   1. both engines are built from the same permissions;
 *   2. 1,000 random questions where the two models mean the same thing must get the same answer from both
 *      (casbin models domain, operation, transitive scope, High/Low Allow/Deny precedence and default deny;
 *      it has no element levels, accounts or licenses, so the comparison leaves out the Processes domain and
 *      users who are deactivated, locked or not on the Process modeler license);
 *   3. checks/s and p50/p99 per check for each (casbin on a time-boxed sample where it is slow).
 * In-process checks get the subject from memory; the HTTP part (POST /api/v1/check/batch on a throw-away
 * SQLite file with all the data) includes loading subjects from the database.
 * Results: a table on stdout and bench/results/decision.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DefaultRoleManager, newEnforcer, newModelFromString, type Adapter, type Enforcer, type Model } from 'casbin';
import { AccessIndex, type CapInput } from '../src/access/accessIndex';
import { decide, type Rule, type Subject } from '../src/access/engine';
import { DOMAINS, OPERATIONS, type DomainKey, type Operation } from '../src/access/catalog';
import { LICENSE_TYPES, defaultLicenseCaps } from '../src/licenses/catalog';
import { parseArgs } from '../src/cli/args';
import { loadConfig } from '../src/config';
import { createDb, type Db } from '../src/db/connect';
import { recordChange } from '../src/changes/service';
import { createApp } from '../src/app';
import { createSuperuser, prepareDatabase } from '../src/setup/bootstrap';
import { createToken } from '../src/tokens/service';
import { SYSTEM_ACTOR } from '../src/audit/service';
import { mulberry32, serve, writeResult } from './support';

const args = parseArgs();
const SIZES = String(args.sizes ?? '1000,10000,100000').split(',').map(Number);
const USERS = Number(args.users ?? 100_000);
const GROUPS = Number(args.groups ?? 5_000);
const WORKSPACES = Number(args.workspaces ?? 10_000);
const MAX_DEPTH = 12;
const CHECKS = Number(args.checks ?? 200_000);
const CASBIN_SECONDS = Number(args['casbin-seconds'] ?? 4);
const CASBIN_MAX = Number(args['casbin-max'] ?? 20_000);
const VERIFY = 1_000;
const VERIFY_SECONDS = Number(args['verify-seconds'] ?? 30);
const HTTP = !args['no-http'];

// ---------------------------------------------------------------------------------------------- random data

const rand = mulberry32(20261122);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(a: readonly T[]): T => a[int(a.length)];

const t0 = performance.now();
// Workspaces: id 1 is the root; each new one hangs below a random earlier one that is less than 12 deep.
const wsParent = new Int32Array(WORKSPACES + 1);
const wsDepth = new Int32Array(WORKSPACES + 1);
const open: number[] = [1];
const children: number[][] = Array.from({ length: WORKSPACES + 1 }, () => []);
for (let id = 2; id <= WORKSPACES; id++) {
  const parent = pick(open);
  wsParent[id] = parent;
  wsDepth[id] = wsDepth[parent] + 1;
  children[parent].push(id);
  if (wsDepth[id] < MAX_DEPTH) open.push(id);
}
const workspaces = [{ id: 1, name: 'Root', parentId: null as number | null }];
for (let id = 2; id <= WORKSPACES; id++) workspaces.push({ id, name: `W${id}`, parentId: wsParent[id] });
const shallow = workspaces.filter((w) => wsDepth[w.id] <= 2).map((w) => w.id);
const depthHistogram = Array.from({ length: MAX_DEPTH + 1 }, (_, d) => workspaces.filter((w) => wsDepth[w.id] === d).length);

// Users and memberships: 3–7 distinct groups each (5 on average). A few accounts are off or on other licenses.
const subjects: Subject[] = [];
const members: number[][] = Array.from({ length: GROUPS + 1 }, () => []);
let memberships = 0;
for (let id = 1; id <= USERS; id++) {
  const n = 3 + int(5);
  const set = new Set<number>();
  while (set.size < n) set.add(1 + int(GROUPS));
  const groupIds = [...set];
  for (const g of groupIds) members[g].push(id);
  memberships += groupIds.length;
  const r = rand();
  const licenseKey = r < 0.94 ? 'process_modeler' : r < 0.97 ? 'project_manager' : r < 0.99 ? 'process_participant' : 'process_viewer';
  const s = rand();
  subjects.push({ userId: id, username: `u${id}`, active: s >= 0.01, lockedUntil: s >= 0.01 && s < 0.015 ? Date.now() + 3600_000 : null, licenseKey, groupIds });
}
const NOW = Date.now();
const comparable = (s: Subject) => s.active && (s.lockedUntil === null || s.lockedUntil <= NOW) && s.licenseKey === 'process_modeler';

const otherDomains = DOMAINS.filter((d) => !d.usesLevels).map((d) => d.key);
const randomDomain = (): DomainKey => (rand() < 0.25 ? 'processes' : pick(otherDomains));

// One list of 100,000 permissions; each size takes a prefix.
const MAX_RULES = Math.max(...SIZES);
const allRules: Rule[] = [];
for (let id = 1; id <= MAX_RULES; id++) {
  const groupId = 1 + int(GROUPS);
  const domainKey = randomDomain();
  const ops = { R: rand() < 0.7, M: rand() < 0.4, C: rand() < 0.3, D: rand() < 0.2 };
  if (!ops.R && !ops.M && !ops.C && !ops.D) ops.R = true;
  allRules.push({
    id,
    groupId,
    groupName: `g${groupId}`,
    effect: rand() < 0.7 ? 'allow' : 'deny',
    domainKey,
    workspaceId: rand() < 0.3 ? pick(shallow) : 1 + int(WORKSPACES),
    transitive: rand() < 0.6,
    ops,
    level: domainKey === 'processes' ? int(10) : 0,
    priority: rand() < 0.25 ? 'high' : 'low',
  });
}

const caps: CapInput[] = LICENSE_TYPES.flatMap((l) => {
  const c = defaultLicenseCaps(l.key);
  return DOMAINS.map((d) => ({ licenseKey: l.key, domainKey: d.key, ops: c[d.key].join('') }));
});

interface Ask {
  s: Subject;
  domain: DomainKey;
  op: Operation;
  ws: number;
  level: number;
}
const randomOp = (): Operation => {
  const r = rand();
  return r < 0.5 ? 'R' : r < 0.7 ? 'M' : r < 0.85 ? 'C' : 'D';
};
const randomAsk = (): Ask => {
  const domain = randomDomain();
  return { s: subjects[int(USERS)], domain, op: randomOp(), ws: 1 + int(WORKSPACES), level: domain === 'processes' ? int(10) : 0 };
};
/**
 * A question aimed at a permission: a member of its group, its domain, one of its operations, its workspace
 * or (often) one below it. Without these, almost every random question ends in a default deny.
 */
function aimedAsk(rules: Rule[], ok: (s: Subject) => boolean = () => true): Ask | undefined {
  const r = pick(rules);
  const who = members[r.groupId];
  if (!who.length) return undefined;
  const s = subjects[pick(who) - 1];
  if (!ok(s)) return undefined;
  let ws = r.workspaceId;
  for (let steps = int(4); steps > 0 && children[ws].length; steps--) ws = pick(children[ws]);
  return { s, domain: r.domainKey, op: pick(OPERATIONS.filter((o) => r.ops[o])), ws, level: r.domainKey === 'processes' ? int(10) : 0 };
}

/** The questions both engines are timed on: half random, half aimed at a permission. */
function asksFor(rules: Rule[]): Ask[] {
  const out: Ask[] = [];
  while (out.length < CHECKS) {
    const a = out.length % 2 ? aimedAsk(rules) : randomAsk();
    if (a) out.push(a);
  }
  return out;
}
let asks: Ask[] = [];
console.log(
  `data: ${USERS.toLocaleString('en-US')} users, ${GROUPS.toLocaleString('en-US')} groups, ${memberships.toLocaleString('en-US')} memberships, ` +
    `${WORKSPACES.toLocaleString('en-US')} workspaces (depth ≤ ${MAX_DEPTH}; per depth ${depthHistogram.join('/')}), ` +
    `${MAX_RULES.toLocaleString('en-US')} permissions generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);

// ------------------------------------------------------------------------------------------------- casbin

const CASBIN_MODEL = `
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = priority, sub, dom, obj, act, scope, eft

[role_definition]
g = _, _
g2 = _, _

[policy_effect]
e = priority(p.eft) || deny

[matchers]
m = r.dom == p.dom && opIn(r.act, p.act) && g(r.sub, p.sub) && (r.obj == p.obj || (p.scope == "t" && g2(r.obj, p.obj)))
`;
const CLASS_PRIORITY = { 'high-deny': '1', 'high-allow': '2', 'low-deny': '3', 'low-allow': '4' } as const;

function casbinLine(r: Rule): string[] {
  const ops = OPERATIONS.filter((o) => r.ops[o]).join('');
  return [CLASS_PRIORITY[`${r.priority}-${r.effect}`], `g${r.groupId}`, r.domainKey, `w${r.workspaceId}`, ops, r.transitive ? 't' : 'n', r.effect];
}

/** Hands casbin the rows directly (its CSV parser would dominate loading 600,000 lines). */
class MemoryAdapter implements Adapter {
  constructor(private readonly rows: { p: string[][]; g: string[][]; g2: string[][] }) {}
  async loadPolicy(model: Model): Promise<void> {
    model.model.get('p')!.get('p')!.policy.push(...this.rows.p);
    const g = model.model.get('g')!;
    for (const row of this.rows.g) g.get('g')!.policy.push(row);
    for (const row of this.rows.g2) g.get('g2')!.policy.push(row);
  }
  async savePolicy(): Promise<boolean> {
    return false;
  }
  async addPolicy(): Promise<void> {}
  async removePolicy(): Promise<void> {}
  async removeFilteredPolicy(): Promise<void> {}
}

async function buildCasbin(rules: Rule[]): Promise<Enforcer> {
  const e = await newEnforcer(newModelFromString(CASBIN_MODEL));
  await e.addFunction('opIn', (act: string, ops: string) => ops.includes(act));
  e.setNamedRoleManager('g', new DefaultRoleManager(1));
  // g2: workspace -> parent; a leaf 12 below the root is 12 links away.
  e.setNamedRoleManager('g2', new DefaultRoleManager(MAX_DEPTH));
  const g: string[][] = [];
  for (const s of subjects) for (const gid of s.groupIds) g.push([`u${s.userId}`, `g${gid}`]);
  const g2 = workspaces.filter((w) => w.parentId !== null).map((w) => [`w${w.id}`, `w${w.parentId}`]);
  e.setAdapter(new MemoryAdapter({ p: rules.map(casbinLine), g, g2 }));
  await e.loadPolicy(); // sorts p by priority, builds the role links
  return e;
}

/** Swaps the permissions of an enforcer (the role links stay). */
function setCasbinRules(e: Enforcer, rules: Rule[]): void {
  const ast = e.getModel().model.get('p')!.get('p')!;
  ast.policy = rules.map(casbinLine);
  e.sortPolicies();
}

const casbinAsk = (e: Enforcer, a: Ask): boolean => e.enforceSync(`u${a.s.userId}`, a.domain, `w${a.ws}`, a.op);

// ------------------------------------------------------------------------------------------------ timing

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Timing {
  checks: number;
  checksPerSecond: number;
  p50us: number;
  p99us: number;
  maxUs: number;
}

/** Latency per check (each timed) and throughput (a separate untimed loop over the same questions). */
function time(n: number, one: (a: Ask) => unknown, budgetMs = Infinity): Timing {
  const lat = new Float64Array(n);
  let done = 0;
  const start = performance.now();
  for (; done < n; done++) {
    const a = asks[done];
    const t = process.hrtime.bigint();
    one(a);
    lat[done] = Number(process.hrtime.bigint() - t) / 1000;
    if ((done & 15) === 15 && performance.now() - start > budgetMs) {
      done++;
      break;
    }
  }
  const sample = lat.subarray(0, done).sort();
  const loopStart = performance.now();
  let sink = 0;
  for (let i = 0; i < done; i++) if (one(asks[i])) sink++;
  const elapsed = (performance.now() - loopStart) / 1000;
  if (sink < 0) console.log(sink);
  return {
    checks: done,
    checksPerSecond: Math.round(done / elapsed),
    p50us: +percentile(sample, 50).toFixed(2),
    p99us: +percentile(sample, 99).toFixed(2),
    maxUs: +sample[sample.length - 1].toFixed(1),
  };
}

/** 1,000 questions on which the two models mean the same thing; half of them aimed at a permission. */
function verificationAsks(rules: Rule[]): Ask[] {
  const out: Ask[] = [];
  const usable = subjects.filter(comparable);
  const rulesOutsideProcesses = rules.filter((r) => r.domainKey !== 'processes');
  while (out.length < VERIFY) {
    if (out.length % 2 === 0) {
      const a = aimedAsk(rulesOutsideProcesses, comparable);
      if (a) out.push(a);
    } else {
      out.push({ s: pick(usable), domain: pick(otherDomains), op: randomOp(), ws: 1 + int(WORKSPACES), level: 0 });
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------------- run

interface SizeResult {
  permissions: number;
  build: { engineMs: number; casbinMs: number };
  verification: { questions: number; agreed: number; allowed: number; deniedByRule: number; defaultDeny: number; timedSampleCompared: number };
  engine: Timing & { outcomes: Record<string, number>; matchedPerCheck: number; userRulesInDomainPerCheck: number };
  /** Same questions and user permissions as the first size, plus unrelated permissions up to this size. */
  control: (Timing & { permissions: number }) | null;
  casbin: Timing;
  speedup: number;
}
const results: SizeResult[] = [];
let enforcer: Enforcer | undefined;
let firstRun: { size: number; rules: Rule[]; asks: Ask[] } | undefined;
let lastIndex: AccessIndex | undefined;

for (const size of SIZES) {
  const rules = allRules.slice(0, size);
  let t = performance.now();
  const index = AccessIndex.build({ workspaces, rules, caps, version: 1 });
  const engineMs = performance.now() - t;
  lastIndex = index;
  t = performance.now();
  if (!enforcer) enforcer = await buildCasbin(rules);
  else setCasbinRules(enforcer, rules);
  const casbinMs = performance.now() - t;
  const e = enforcer;

  // Same answers first: the 1,000 questions, or as many as casbin answers in --verify-seconds (all of them at
  // 1,000 permissions; casbin needs ~30–60 ms per question at 10,000 permissions and ~0.3–0.7 s at 100,000).
  const v = verificationAsks(rules);
  let agreed = 0;
  let asked = 0;
  let allowed = 0;
  let deniedByRule = 0;
  let defaultDeny = 0;
  const mismatches: string[] = [];
  const verifyStart = performance.now();
  for (const a of v) {
    if (performance.now() - verifyStart > VERIFY_SECONDS * 1000) break;
    asked++;
    const ours = decide(index, a.s, a.domain, a.op, a.ws, a.level, NOW);
    const theirs = casbinAsk(e, a);
    if (ours.allowed) allowed++;
    else if (ours.reason === 'rule') deniedByRule++;
    else defaultDeny++;
    if (ours.allowed === theirs) agreed++;
    else if (mismatches.length < 5) mismatches.push(`u${a.s.userId} ${a.op} ${a.domain} w${a.ws}: engine ${ours.allowed} (${ours.explanation}) casbin ${theirs}`);
  }
  if (agreed !== asked) {
    console.error(`DISAGREEMENT at ${size} permissions (${asked - agreed} of ${asked}):\n${mismatches.join('\n')}`);
    process.exit(1);
  }

  asks = asksFor(rules);

  const engineFn = (a: Ask) => decide(index, a.s, a.domain, a.op, a.ws, a.level, NOW).allowed;
  time(Math.min(20_000, CHECKS), engineFn); // warm-up
  const ours = time(CHECKS, engineFn);
  const outcomes: Record<string, number> = { allowed: 0, rule: 0, default: 0, license: 0, account: 0 };
  let matchedTotal = 0;
  let candidateTotal = 0;
  for (const a of asks) {
    const d = decide(index, a.s, a.domain, a.op, a.ws, a.level, NOW);
    outcomes[d.allowed ? 'allowed' : d.reason]++;
    matchedTotal += d.matched.length;
    for (const g of a.s.groupIds) candidateTotal += index.rulesFor(g, a.domain).length;
  }

  // Control: the first size's permissions plus (size - first) permissions of groups nobody belongs to, timed
  // on the first size's questions. Same work per check, many more permissions in the system.
  let control: (Timing & { permissions: number }) | null = null;
  if (firstRun && size > firstRun.size) {
    const unrelated = allRules.slice(firstRun.size, size).map((r) => ({ ...r, groupId: r.groupId + GROUPS, groupName: `x${r.groupId}` }));
    const cIndex = AccessIndex.build({ workspaces, rules: [...firstRun.rules, ...unrelated], caps, version: 1 });
    const saved = asks;
    asks = firstRun.asks;
    const fn = (a: Ask) => decide(cIndex, a.s, a.domain, a.op, a.ws, a.level, NOW).allowed;
    time(Math.min(20_000, CHECKS), fn);
    control = { permissions: size, ...time(CHECKS, fn) };
    asks = saved;
  }
  const casbinFn = (a: Ask) => casbinAsk(e, a);
  time(Math.min(200, CASBIN_MAX), casbinFn, 500); // warm-up
  const theirs = time(Math.min(CASBIN_MAX, CHECKS), casbinFn, CASBIN_SECONDS * 1000);
  // Casbin's timed sample, compared too where the models mean the same thing.
  let sampleCompared = 0;
  for (const a of asks.slice(0, theirs.checks)) {
    if (a.domain === 'processes' || !comparable(a.s)) continue;
    sampleCompared++;
    if (decide(index, a.s, a.domain, a.op, a.ws, a.level, NOW).allowed !== casbinAsk(e, a)) {
      console.error(`DISAGREEMENT at ${size} permissions on u${a.s.userId} ${a.op} ${a.domain} w${a.ws}`);
      process.exit(1);
    }
  }

  const r: SizeResult = {
    permissions: size,
    build: { engineMs: Math.round(engineMs), casbinMs: Math.round(casbinMs) },
    verification: { questions: asked, agreed, allowed, deniedByRule, defaultDeny, timedSampleCompared: sampleCompared },
    engine: { ...ours, outcomes, matchedPerCheck: +(matchedTotal / asks.length).toFixed(2), userRulesInDomainPerCheck: +(candidateTotal / asks.length).toFixed(2) },
    control,
    casbin: theirs,
    speedup: Math.round(ours.checksPerSecond / theirs.checksPerSecond),
  };
  results.push(r);
  firstRun ??= { size, rules, asks };
  console.log(
    `${size.toLocaleString('en-US')} permissions: verified ${agreed}/${asked} identical (${allowed} allowed, ${deniedByRule} denied by a rule, ${defaultDeny} by default); ` +
      `engine ${ours.checksPerSecond.toLocaleString('en-US')}/s p99 ${ours.p99us} µs; casbin ${theirs.checksPerSecond.toLocaleString('en-US')}/s on ${theirs.checks} checks`,
  );
}

const fmt = (n: number) => n.toLocaleString('en-US');
console.log('\nGrowth (in-process, one check at a time; p50/p99 in µs per check)');
const W = [12, 16, 9, 9, 16, 12, 12, 10, 10];
console.log(
  ['permissions', 'engine checks/s', 'p50', 'p99', 'casbin checks/s', 'p50', 'p99', 'casbin n', 'engine ×'].map((h, i) => (i ? h.padStart(W[i]) : h.padEnd(W[0]))).join(''),
);
for (const r of results) {
  const cells = [
    fmt(r.permissions),
    fmt(r.engine.checksPerSecond),
    String(r.engine.p50us),
    String(r.engine.p99us),
    fmt(r.casbin.checksPerSecond),
    fmt(Math.round(r.casbin.p50us)),
    fmt(Math.round(r.casbin.p99us)),
    fmt(r.casbin.checks),
    `${fmt(r.speedup)}×`,
  ];
  console.log(cells.map((c, i) => (i ? c.padStart(W[i]) : c.padEnd(W[0]))).join(''));
}
if (results.length > 1) {
  const a = results[0];
  const b = results[results.length - 1];
  console.log(
    `From ${fmt(a.permissions)} to ${fmt(b.permissions)} permissions (×${b.permissions / a.permissions}): engine p50 ×${(b.engine.p50us / a.engine.p50us).toFixed(1)}, ` +
      `casbin p50 ×${(b.casbin.p50us / a.casbin.p50us).toFixed(1)}`,
  );
}
console.log(
  `\nWhat the engine's cost follows: the permissions of the asking user's groups in the asked domain (at most groups × depth are looked at),` +
    `\nnot the permissions in the system. Control: the ${fmt(results[0].permissions)}-permission questions and user permissions, plus unrelated permissions up to the size.`,
);
console.log(['permissions', "user's rules in domain", 'matched', 'control p50', 'control p99', 'control checks/s'].map((h, i) => (i ? h.padStart(i === 1 ? 24 : i === 5 ? 18 : 14) : h.padEnd(12))).join(''));
for (const r of results) {
  const c = r.control ?? { p50us: r.engine.p50us, p99us: r.engine.p99us, checksPerSecond: r.engine.checksPerSecond };
  console.log(
    fmt(r.permissions).padEnd(12) +
      String(r.engine.userRulesInDomainPerCheck).padStart(24) +
      String(r.engine.matchedPerCheck).padStart(14) +
      String(c.p50us).padStart(14) +
      String(c.p99us).padStart(14) +
      fmt(c.checksPerSecond).padStart(18),
  );
}

// ------------------------------------------------------------------------------------------- over HTTP

let http: Record<string, unknown> | undefined;
if (HTTP && lastIndex) {
  const size = SIZES[SIZES.length - 1];
  const file = path.join(os.tmpdir(), `gatehouse-bench-decision-${process.pid}.sqlite`);
  const config = loadConfig({ NODE_ENV: 'production' }, { sqliteFile: file, databaseUrl: undefined, scryptN: 2 ** 14, apiRateLimitPerMinute: 1_000_000 });
  const db = createDb(config);
  try {
    let t = performance.now();
    await load(db, config, allRules.slice(0, size));
    const loadS = (performance.now() - t) / 1000;
    await createSuperuser(db, config, { username: 'bench-admin', password: 'bench-password-123', email: 'bench-admin@example.com' });
    const admin = await db('users').where({ username_lower: 'bench-admin' }).first('id');
    const { token } = await createToken(db, SYSTEM_ACTOR, admin.id, { name: 'bench' });
    const gate = await createApp(config, { db });
    const server = await serve(gate.app.callback());
    const post = async (url: string, body: unknown) => {
      const res = await fetch(server.url + url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${await res.text()}`);
      return res.json() as Promise<any>;
    };
    const domainName = new Map(DOMAINS.map((d) => [d.key, d.name]));
    const toJson = (a: Ask) => ({ user: a.s.username, domain: domainName.get(a.domain), operation: a.op, workspace: lastIndex!.workspacePath(a.ws), ...(a.domain === 'processes' ? { level: a.level } : {}) });
    t = performance.now();
    const first = await post('/api/v1/check/batch', { checks: asks.slice(0, 1000).map(toJson) });
    const firstMs = performance.now() - t; // includes building the index from the database
    // The answers over HTTP are the in-process answers (subjects now come from the database).
    const disagree = asks.slice(0, 1000).filter((a, i) => first.results[i].allowed !== decide(lastIndex!, a.s, a.domain, a.op, a.ws, a.level, NOW).allowed).length;
    const BATCHES = Number(args.batches ?? 30);
    const batchMs: number[] = [];
    for (let b = 0; b < BATCHES; b++) {
      const body = { checks: asks.slice(((b + 1) * 1000) % (CHECKS - 1000), (((b + 1) * 1000) % (CHECKS - 1000)) + 1000).map(toJson) };
      t = performance.now();
      await post('/api/v1/check/batch', body);
      batchMs.push(performance.now() - t);
    }
    const singleMs: number[] = [];
    for (let i = 0; i < 300; i++) {
      t = performance.now();
      await post('/api/v1/check', toJson(asks[i]));
      singleMs.push(performance.now() - t);
    }
    batchMs.sort((x, y) => x - y);
    singleMs.sort((x, y) => x - y);
    const q = (a: number[], p: number) => +a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))].toFixed(2);
    http = {
      database: 'sqlite (throw-away file)',
      permissions: size,
      loadSeconds: +loadS.toFixed(1),
      firstBatchMsIncludingIndexBuild: +firstMs.toFixed(0),
      disagreementsWithInProcess: disagree,
      batch: { size: 1000, batches: BATCHES, p50ms: q(batchMs, 50), p99ms: q(batchMs, 99), checksPerSecond: Math.round(1000 / (batchMs.reduce((s, x) => s + x, 0) / batchMs.length / 1000)) },
      single: { requests: singleMs.length, p50ms: q(singleMs, 50), p99ms: q(singleMs, 99) },
    };
    console.log(
      `\nHTTP (SQLite, ${fmt(size)} permissions, data loaded in ${loadS.toFixed(1)} s): first batch ${firstMs.toFixed(0)} ms (builds the index); ` +
        `POST /api/v1/check/batch of 1,000: p50 ${q(batchMs, 50)} ms, p99 ${q(batchMs, 99)} ms → ${fmt((http.batch as { checksPerSecond: number }).checksPerSecond)} checks/s; ` +
        `POST /api/v1/check: p50 ${q(singleMs, 50)} ms, p99 ${q(singleMs, 99)} ms; answers equal to in-process: ${1000 - disagree}/1000`,
    );
    await server.close();
    await gate.close();
  } finally {
    await db.destroy();
    if (args['keep-db']) console.log(`database kept: GATEHOUSE_SQLITE_FILE=${file}`);
    else for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
  }
}

/** Writes the generated data into a fresh database (ids as generated). */
async function load(db: Db, config: { databaseUrl?: string }, rules: Rule[]): Promise<void> {
  await prepareDatabase(db);
  const now = Date.now();
  const role = await db('roles').where({ builtin_key: 'analyst' }).first('id');
  const licenseIds = new Map((await db('license_types').select('id', 'key')).map((l: { id: number; key: string }) => [l.key, l.id]));
  const domainIds = new Map((await db('domains').select('id', 'key')).map((d: { id: number; key: string }) => [d.key, d.id]));
  const root = await db('workspaces').whereNull('parent_id').first('id');
  if (root.id !== 1) throw new Error('expected the root workspace to have id 1');
  await db.transaction(async (trx) => {
    // SQLite compiles a multi-row insert into a compound SELECT of at most 500 terms.
    const ins = async (table: string, rows: Record<string, unknown>[], size: number) => {
      const n = config.databaseUrl ? size : Math.min(size, 400);
      for (let i = 0; i < rows.length; i += n) await trx(table).insert(rows.slice(i, i + n));
    };
    await ins(
      'workspaces',
      workspaces.slice(1).map((w) => ({ id: w.id, name: w.name, name_lower: w.name.toLowerCase(), parent_id: w.parentId, created_at: now, updated_at: now })),
      2000,
    );
    await ins('groups', Array.from({ length: GROUPS }, (_, i) => ({ id: i + 1, name: `g${i + 1}`, name_lower: `g${i + 1}`, description: '', created_at: now, updated_at: now })), 2000);
    await ins(
      'users',
      subjects.map((s) => ({
        id: s.userId,
        username: s.username,
        username_lower: s.username,
        first_name: 'Bench',
        last_name: `User ${s.userId}`,
        first_name_lower: 'bench',
        last_name_lower: `user ${s.userId}`,
        email: `${s.username}@bench.example`,
        email_lower: `${s.username}@bench.example`,
        password_hash: null,
        role_id: role.id,
        license_type_id: licenseIds.get(s.licenseKey!),
        status: s.active ? 'active' : 'deactivated',
        locked_until: s.lockedUntil,
        created_at: now,
        updated_at: now,
      })),
      1000,
    );
    const gm: Record<string, unknown>[] = [];
    for (const s of subjects) for (const g of s.groupIds) gm.push({ group_id: g, user_id: s.userId, added_at: now });
    await ins('group_members', gm, 5000);
    await ins(
      'domain_permissions',
      rules.map((r) => ({
        id: r.id,
        group_id: r.groupId,
        effect: r.effect,
        domain_id: domainIds.get(r.domainKey),
        workspace_id: r.workspaceId,
        transitive: r.transitive,
        can_read: r.ops.R,
        can_modify: r.ops.M,
        can_create: r.ops.C,
        can_delete: r.ops.D,
        level: r.level,
        priority: r.priority,
        created_at: now,
        updated_at: now,
      })),
      1000,
    );
    await recordChange(trx, { kind: 'rebuild' });
  });
}

const file = writeResult('decision', {
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model },
  data: { users: USERS, groups: GROUPS, memberships, workspaces: WORKSPACES, maxDepth: MAX_DEPTH, workspacesPerDepth: depthHistogram },
  casbin: {
    version: JSON.parse(fs.readFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'node_modules', 'casbin', 'package.json'), 'utf8')).version,
    model: CASBIN_MODEL.trim(),
    roleManagers: { g: 'DefaultRoleManager(1): user → group', g2: `DefaultRoleManager(${MAX_DEPTH}): workspace → parent` },
    comparison:
      'Same permissions and the same questions. Verified identical on up to 1,000 questions per size (as many as casbin answers in --verify-seconds; the count is sizes[].verification.questions, plus casbin\'s timed sample where comparable) outside Processes (casbin has no element levels) for active, unlocked users on the Process modeler license (casbin has no accounts or licenses); half of the questions aimed at an existing permission. casbin build time at the first size includes its role links (500,000 user→group and 9,999 workspace→parent); later sizes only swap the p rules.',
  },
  sizes: results,
  goals: {
    speedupAt10000: results.find((r) => r.permissions === 10_000)?.speedup ?? null,
    speedupGoal: 100,
    p99usAt100000: results.find((r) => r.permissions === 100_000)?.engine.p99us ?? null,
    p99GoalUs: 20,
  },
  http: http ?? null,
});
console.log(`\nwritten to ${path.relative(process.cwd(), file)}`);
