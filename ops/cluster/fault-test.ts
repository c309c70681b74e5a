/**
 * npm run test:cluster — the fault test of the local cluster (issue 12).
 *
 * Starts a cluster of its own (three Galera nodes, HAProxy, three Gatehouse servers; own folder and ports),
 * then for 60 s clients through HAProxy and straight to each server create and edit users, save group
 * members, add and remove domain permissions and ask for decisions, while an invariant client races
 * conflicting changes on different servers (two Superusers deactivating each other, two default roles,
 * two workspaces moved under each other, users taking the last seats of a license). Meanwhile database node
 * 2 is killed with SIGKILL and later restarted (it rejoins by IST or SST), Gatehouse server 3 is restarted
 * (SIGTERM, start), and database node 3 is cut off from the others for 8 s (a partition) and rejoins.
 *
 * Afterwards it checks: every write answered 2xx is in the database; the three nodes hold identical data
 * (CHECKSUM TABLE); no invariant is broken; no 5xx but 503, and every 503 carries Retry-After; every server
 * serves again without a manual restart; every server's decisions agree with decisions computed from the
 * database by a fresh engine. The counts are printed and saved in bench/results/cluster-fault-test.json.
 * Exit status 0 only when every check passes.
 *
 *   npm run test:cluster [-- --seconds 60] [-- --keep]   (--keep leaves the cluster running afterwards)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { type Layout, nodeNumbers, paths, ports, serverNumbers } from './layout';
import { down, up } from './cluster';
import { connectNode, isolateNode, isSynced, killNode, lastJoinMethod, nodeState, startNode, waitSynced } from './galera';
import { credentials, databaseUrl, REPO_ROOT, serverReady, startServer, stopServer, waitServerReady } from './gatehouse';
import { sleep, waitFor } from './proc';
import { loadConfig } from '../../src/config';
import { createDb, type Db } from '../../src/db/connect';
import { check, type CheckQuery } from '../../src/access/service';
import { createToken } from '../../src/tokens/service';
import { SYSTEM_ACTOR } from '../../src/audit/service';

const { values: args } = parseArgs({ options: { seconds: { type: 'string' }, keep: { type: 'boolean' } } });
const DURATION_MS = Number(args.seconds ?? 60) * 1000;
const layout: Layout = {
  dir: path.resolve(process.env.GATEHOUSE_FAULT_DIR || path.join(os.tmpdir(), 'gatehouse-fault-test')),
  base: Number(process.env.GATEHOUSE_FAULT_PORT_BASE || 25000),
  servers: 3,
};
const log = (line: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

// ---- HTTP with bookkeeping ---------------------------------------------------------------------------------

type Target = { name: string; url: string };
const haproxy: Target = { name: 'haproxy', url: `http://127.0.0.1:${ports.haproxyHttp(layout)}` };
const direct = (s: number): Target => ({ name: `server${s}`, url: `http://127.0.0.1:${ports.server(layout, s)}` });

interface Outcome {
  /** 0 when no answer came (reset, timed out); -1 when the connection was refused (nothing was sent). */
  status: number;
  body: any;
  retryAfter: string | null;
}

const stats = {
  requests: 0,
  writesAcknowledged: 0,
  writesRefused4xx: 0,
  writesUnknown: 0,
  decisions: 0,
  connectionsRefused: 0,
  status503: 0,
  status503WithoutRetryAfter: 0,
  status5xxOther: 0,
  noAnswer: 0,
  byTarget: {} as Record<string, { requests: number; ok: number; s503: number; noAnswer: number; longestUnavailableMs: number }>,
};
const failures: string[] = [];
const other5xx: string[] = [];

/** Per client and target: when the current run of failed requests began (for the longest unavailability). */
class Availability {
  private since: number | undefined;
  longestMs = 0;
  constructor(private readonly target: string) {}
  fail(now: number) {
    this.since ??= now;
  }
  /** Closes a run of failures still open when the load stops (a server still restarting). */
  end(now: number) {
    this.ok(now);
  }
  ok(now: number) {
    if (this.since !== undefined) {
      this.longestMs = Math.max(this.longestMs, now - this.since);
      const t = stats.byTarget[this.target];
      t.longestUnavailableMs = Math.max(t.longestUnavailableMs, now - this.since);
      this.since = undefined;
    }
  }
}

async function call(target: Target, token: string, method: string, url: string, body?: unknown, availability?: Availability): Promise<Outcome> {
  stats.requests++;
  const t = (stats.byTarget[target.name] ??= { requests: 0, ok: 0, s503: 0, noAnswer: 0, longestUnavailableMs: 0 });
  t.requests++;
  let res: Response;
  try {
    res = await fetch(`${target.url}/api/v1${url}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
  } catch (e) {
    availability?.fail(Date.now());
    // A refused connection (a server restarting) reached nothing: like a real client, wait a moment.
    if ((e as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') {
      stats.connectionsRefused++;
      await sleep(100);
      return { status: -1, body: undefined, retryAfter: null };
    }
    stats.noAnswer++;
    t.noAnswer++;
    return { status: 0, body: undefined, retryAfter: null };
  }
  const text = await res.text().catch(() => '');
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  const outcome = { status: res.status, body: parsed, retryAfter: res.headers.get('retry-after') };
  if (res.status === 503) {
    stats.status503++;
    t.s503++;
    if (!outcome.retryAfter) stats.status503WithoutRetryAfter++;
    availability?.fail(Date.now());
    await sleep(Math.min(2000, 1000 * (Number(outcome.retryAfter) || 1)) / 4);
  } else if (res.status >= 500) {
    stats.status5xxOther++;
    if (other5xx.length < 20) other5xx.push(`${method} ${target.name}${url} → ${res.status} ${text.slice(0, 300)}`);
    availability?.fail(Date.now());
  } else {
    t.ok++;
    availability?.ok(Date.now());
  }
  return outcome;
}

const isOk = (o: Outcome) => o.status >= 200 && o.status < 300;
const isUnknown = (o: Outcome) => o.status === 0 || o.status >= 500;

/** Book-keeping of a write: acknowledged, refused by a rule (4xx), or of unknown outcome (503, no answer). */
function noteWrite(o: Outcome): 'ok' | 'refused' | 'unknown' | 'not sent' {
  if (o.status === -1) return 'not sent';
  if (isOk(o)) {
    stats.writesAcknowledged++;
    return 'ok';
  }
  if (isUnknown(o)) {
    stats.writesUnknown++;
    return 'unknown';
  }
  stats.writesRefused4xx++;
  return 'refused';
}

// ---- what the clients believe the database holds ------------------------------------------------------------

interface UserModel {
  username: string;
  /** The first name after the last acknowledged edit, and values sent since whose outcome is unknown. */
  firstName: string;
  unknownSince: string[];
}

interface ClientModel {
  id: number;
  group: string;
  users: UserModel[];
  /** Users whose creation was acknowledged or whose outcome is unknown (checked present only when acknowledged). */
  members: Set<string>;
  membersCertain: boolean;
  permissionIds: Set<number>;
  permissionsCertain: boolean;
  counter: number;
}

const WORKSPACES = ['/Root/Fault/W1', '/Root/Fault/W1/Deep', '/Root/Fault/W2', '/Root/Fault/W3'];
const pick = <T>(list: T[]): T => list[Math.floor(Math.random() * list.length)];

async function clientLoop(model: ClientModel, target: Target, token: string, until: number): Promise<void> {
  const availability = new Availability(target.name);
  while (Date.now() < until) {
    const roll = Math.random();
    const n = ++model.counter;
    if (roll < 0.25 || model.users.length < 3) {
      const username = `f${model.id}x${n}`;
      const o = await call(target, token, 'POST', '/users', {
        username,
        firstName: 'Created',
        lastName: `Client${model.id}`,
        email: `${username}@fault.example.com`,
        password: 'fault-test-password-1',
        role: 'Analyst',
        license: n % 2 ? 'process_participant' : 'process_viewer',
      }, availability);
      if (noteWrite(o) === 'ok') model.users.push({ username, firstName: 'Created', unknownSince: [] });
    } else if (roll < 0.45) {
      const u = pick(model.users);
      const value = `Edit${n}`;
      const o = await call(target, token, 'PATCH', `/users/${u.username}`, { firstName: value }, availability);
      const r = noteWrite(o);
      if (r === 'ok') {
        u.firstName = value;
        u.unknownSince = [];
      } else if (r === 'unknown') u.unknownSince.push(value);
    } else if (roll < 0.6) {
      const add = model.users.filter((u) => !model.members.has(u.username)).slice(0, 2).map((u) => u.username);
      const remove = Math.random() < 0.3 ? [...model.members].slice(0, 1) : [];
      if (!add.length && !remove.length) continue;
      const o = await call(target, token, 'POST', `/groups/${model.group}/members`, { add, remove }, availability);
      const r = noteWrite(o);
      if (r === 'ok') {
        add.forEach((u) => model.members.add(u));
        remove.forEach((u) => model.members.delete(u));
      } else if (r === 'unknown') model.membersCertain = false;
    } else if (roll < 0.75) {
      if (model.permissionIds.size > 4 && Math.random() < 0.5) {
        const id = pick([...model.permissionIds]);
        const o = await call(target, token, 'DELETE', `/permissions/${id}`, undefined, availability);
        const r = noteWrite(o);
        if (r === 'ok') model.permissionIds.delete(id);
        else if (r === 'unknown') model.permissionsCertain = false;
      } else {
        const o = await call(target, token, 'POST', `/groups/${model.group}/permissions`, {
          effect: Math.random() < 0.7 ? 'allow' : 'deny',
          domain: 'Processes',
          workspace: pick(WORKSPACES),
          transitive: Math.random() < 0.5,
          operations: pick(['R', 'RM', 'RMC', 'RMCD']),
          level: Math.floor(Math.random() * 4),
          priority: Math.random() < 0.8 ? 'low' : 'high',
        }, availability);
        const r = noteWrite(o);
        if (r === 'ok') model.permissionIds.add(Number(o.body.id));
        else if (r === 'unknown') model.permissionsCertain = false;
      }
    } else {
      const o = await call(target, token, 'POST', '/check', { user: pick(model.users).username, domain: 'Processes', operation: pick(['R', 'M']), workspace: pick(WORKSPACES), level: Math.floor(Math.random() * 4) }, availability);
      if (isOk(o)) stats.decisions++;
    }
  }
  availability.end(Date.now());
}

// ---- the invariant client: conflicting changes on different servers at the same moment -----------------------

const invariantStats = { superuserRaces: 0, superuserBothSucceeded: 0, defaultRoleRaces: 0, workspaceRaces: 0, workspaceBothSucceeded: 0 };

async function invariantLoop(tokens: { admin: string; super2: string; operator: string }, ids: { roleA: number; roleB: number; moveA: number; moveB: number; fault: number }, until: number): Promise<void> {
  const [s1, s2, s3] = [direct(1), direct(2), direct(3)];
  while (Date.now() < until) {
    // Two Superusers deactivating each other through different servers (different database nodes).
    invariantStats.superuserRaces++;
    const [a, b] = await Promise.all([call(s1, tokens.admin, 'POST', '/users/super2/deactivate'), call(s2, tokens.super2, 'POST', '/users/admin/deactivate')]);
    noteWrite(a);
    noteWrite(b);
    if (isOk(a) && isOk(b)) invariantStats.superuserBothSucceeded++;
    // Whoever is still active reactivates the other (through HAProxy); retried until it sticks.
    for (let i = 0; i < 40 && Date.now() < until + 30_000; i++) {
      const r1 = await call(haproxy, tokens.admin, 'POST', '/users/super2/reactivate');
      const r2 = await call(haproxy, tokens.super2, 'POST', '/users/admin/reactivate');
      if ((isOk(r1) || r1.status === 401 || r1.status === 403 || r1.status === 409 || r1.status === 422) && (isOk(r2) || r2.status === 401 || r2.status === 403 || r2.status === 409 || r2.status === 422)) {
        const check1 = await call(haproxy, tokens.operator, 'GET', '/users/admin');
        const check2 = await call(haproxy, tokens.operator, 'GET', '/users/super2');
        if (isOk(check1) && isOk(check2) && check1.body.status === 'active' && check2.body.status === 'active') break;
      }
      await sleep(250);
    }

    // Two default roles set at once through different servers.
    invariantStats.defaultRoleRaces++;
    const [d1, d2] = await Promise.all([call(s2, tokens.operator, 'PUT', '/roles/default', { role: ids.roleA }), call(s3, tokens.operator, 'PUT', '/roles/default', { role: ids.roleB })]);
    noteWrite(d1);
    noteWrite(d2);

    // Two workspaces moved under each other at once: at most one may succeed, or the tree has a cycle.
    invariantStats.workspaceRaces++;
    const [m1, m2] = await Promise.all([call(s1, tokens.operator, 'PATCH', `/workspaces/${ids.moveA}`, { parent: ids.moveB }), call(s3, tokens.operator, 'PATCH', `/workspaces/${ids.moveB}`, { parent: ids.moveA })]);
    noteWrite(m1);
    noteWrite(m2);
    if (isOk(m1) && isOk(m2)) invariantStats.workspaceBothSucceeded++;
    for (let i = 0; i < 40; i++) {
      const back = await Promise.all([call(haproxy, tokens.operator, 'PATCH', `/workspaces/${ids.moveA}`, { parent: ids.fault }), call(haproxy, tokens.operator, 'PATCH', `/workspaces/${ids.moveB}`, { parent: ids.fault })]);
      if (back.every((o) => isOk(o) || (o.status >= 400 && o.status < 500 && o.status !== 409))) break;
      await sleep(250);
    }
    await sleep(300);
  }
}

// ---- set-up ---------------------------------------------------------------------------------------------------

async function expectOk(o: Outcome, what: string): Promise<any> {
  if (!isOk(o)) throw new Error(`Set-up failed: ${what} → ${o.status} ${JSON.stringify(o.body)?.slice(0, 400)}`);
  return o.body;
}

async function tokenFor(db: Db, username: string): Promise<string> {
  const user = await db('users').where({ username_lower: username.toLowerCase() }).first('id');
  return (await createToken(db, { ...SYSTEM_ACTOR, username: 'fault-test' }, Number(user.id), { name: `fault-test-${Date.now()}` })).token;
}

async function setUp(db: Db) {
  const c = credentials(layout);
  const admin = await tokenFor(db, c.adminUsername);
  const h = haproxy;
  await expectOk(await call(h, admin, 'POST', '/users', { username: 'super2', firstName: 'Second', lastName: 'Superuser', email: 'super2@fault.example.com', password: 'fault-test-password-1', role: 'Superuser' }), 'second Superuser');
  const operatorRole = await expectOk(await call(h, admin, 'POST', '/roles', { name: 'Fault operator', template: 'administrator' }), 'operator role');
  await expectOk(await call(h, admin, 'PUT', `/roles/${operatorRole.id}/permissions`, { permissions: ['users.manage', 'access.manage', 'api.access'] }), 'operator permissions');
  await expectOk(await call(h, admin, 'POST', '/users', { username: 'fault-operator', firstName: 'Fault', lastName: 'Operator', email: 'operator@fault.example.com', password: 'fault-test-password-1', role: 'Fault operator' }), 'operator');
  const roleA = await expectOk(await call(h, admin, 'POST', '/roles', { name: 'Fault default A', template: 'analyst' }), 'role A');
  const roleB = await expectOk(await call(h, admin, 'POST', '/roles', { name: 'Fault default B', template: 'analyst' }), 'role B');
  const fault = await expectOk(await call(h, admin, 'POST', '/workspaces', { name: 'Fault' }), 'workspace Fault');
  const w1 = await expectOk(await call(h, admin, 'POST', '/workspaces', { name: 'W1', parent: fault.id }), 'W1');
  await expectOk(await call(h, admin, 'POST', '/workspaces', { name: 'Deep', parent: w1.id }), 'Deep');
  await expectOk(await call(h, admin, 'POST', '/workspaces', { name: 'W2', parent: fault.id }), 'W2');
  await expectOk(await call(h, admin, 'POST', '/workspaces', { name: 'W3', parent: fault.id }), 'W3');
  const moveA = await expectOk(await call(h, admin, 'POST', '/workspaces', { name: 'MoveA', parent: fault.id }), 'MoveA');
  const moveB = await expectOk(await call(h, admin, 'POST', '/workspaces', { name: 'MoveB', parent: fault.id }), 'MoveB');
  // Few seats left on one license: creates through every server race for them.
  const participant = await expectOk(await call(h, admin, 'GET', '/licenses/process_participant'), 'license');
  await expectOk(await call(h, admin, 'PATCH', '/licenses/process_participant', { seatLimit: Number(participant.seatsAssigned ?? participant.used ?? 0) + 25 }), 'seat limit');
  const clients: ClientModel[] = [];
  for (let i = 1; i <= 5; i++) {
    const group = `fault-group-${i}`;
    await expectOk(await call(h, admin, 'POST', '/groups', { name: group, description: 'Fault test' }), group);
    clients.push({ id: i, group, users: [], members: new Set(), membersCertain: true, permissionIds: new Set(), permissionsCertain: true, counter: 0 });
  }
  return {
    tokens: { admin, super2: await tokenFor(db, 'super2'), operator: await tokenFor(db, 'fault-operator') },
    ids: { roleA: Number(roleA.id), roleB: Number(roleB.id), moveA: Number(moveA.id), moveB: Number(moveB.id), fault: Number(fault.id) },
    clients,
  };
}

// ---- the faults -----------------------------------------------------------------------------------------------

const faultLog: Array<{ atSeconds: number; event: string }> = [];
let rejoinedBy: string | undefined;
let partitionRejoinedBy: string | undefined;

async function faults(started: number): Promise<void> {
  const at = (seconds: number) => sleep(Math.max(0, started + seconds * 1000 - Date.now()));
  const note = (event: string) => {
    faultLog.push({ atSeconds: Math.round((Date.now() - started) / 100) / 10, event });
    log(event);
  };
  const scale = DURATION_MS / 60_000;
  await at(10 * scale);
  note('SIGKILL database node 2');
  await killNode(layout, 2);
  await at(25 * scale);
  note('restarting database node 2');
  await startNode(layout, 2);
  await waitSynced(layout, 2, 120_000);
  rejoinedBy = lastJoinMethod(layout, 2);
  note(`database node 2 Synced again (rejoined by ${rejoinedBy ?? 'unknown'})`);
  // Node 2 is back: the server restart and a partition of node 3 may overlap, two nodes keep the Primary component.
  await Promise.all([
    (async () => {
      await at(38 * scale);
      note('SIGTERM Gatehouse server 3 (graceful restart)');
      await stopServer(layout, 3);
      startServer(layout, 3, SERVER_ENV);
      try {
        await waitServerReady(layout, 3, 90_000);
        note('Gatehouse server 3 ready again');
      } catch (e) {
        failures.push(`Gatehouse server 3 did not come back after its restart: ${e instanceof Error ? e.message : e}`);
      }
    })(),
    (async () => {
      await at(44 * scale);
      note('partitioning database node 3 from the others (gmcast.isolate)');
      await isolateNode(layout, 3, true);
      await at(52 * scale);
      note('ending the partition of node 3');
      await isolateNode(layout, 3, false);
      await waitSynced(layout, 3, 120_000);
      partitionRejoinedBy = lastJoinMethod(layout, 3) ?? 'IST';
      note('database node 3 Synced again');
    })(),
  ]);
}

// ---- checks afterwards --------------------------------------------------------------------------------------

async function checksums(): Promise<Record<number, Record<string, string>>> {
  const out: Record<number, Record<string, string>> = {};
  for (const n of nodeNumbers()) {
    const conn = await connectNode(layout, n, 'gatehouse');
    try {
      const [tables] = await conn.query("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'gatehouse' AND table_type = 'BASE TABLE' ORDER BY table_name");
      const names = (tables as Array<{ t: string }>).map((r) => r.t);
      const [rows] = await conn.query(`CHECKSUM TABLE ${names.map((t) => `\`${t}\``).join(', ')}`);
      out[n] = Object.fromEntries((rows as Array<{ Table: string; Checksum: string | number }>).map((r) => [r.Table.replace(/^gatehouse\./, ''), String(r.Checksum)]));
    } finally {
      await conn.end();
    }
  }
  return out;
}

async function invariantsHold(db: Db): Promise<string[]> {
  const broken: string[] = [];
  const defaults = Number((await db('roles').where({ is_default: true }).count({ n: '*' }).first())?.n);
  if (defaults !== 1) broken.push(`${defaults} default roles`);
  const supers = Number(
    (await db('users').join('roles', 'roles.id', 'users.role_id').where({ 'roles.builtin_key': 'superuser', 'users.status': 'active' }).count({ n: '*' }).first())?.n,
  );
  if (supers < 1) broken.push('no active Superuser');
  const seats = await db('license_types').leftJoin('users', 'users.license_type_id', 'license_types.id').whereNotNull('license_types.seat_limit').groupBy('license_types.id', 'license_types.key', 'license_types.seat_limit').select('license_types.key', 'license_types.seat_limit').count({ used: 'users.id' });
  for (const s of seats as Array<{ key: string; seat_limit: number; used: number | string }>) if (Number(s.used) > Number(s.seat_limit)) broken.push(`license ${s.key}: ${s.used} users for ${s.seat_limit} seats`);
  const parents = new Map<number, number | null>((await db('workspaces').select('id', 'parent_id')).map((r: { id: number; parent_id: number | null }) => [Number(r.id), r.parent_id === null ? null : Number(r.parent_id)]));
  const roots = [...parents.values()].filter((p) => p === null).length;
  if (roots !== 1) broken.push(`${roots} root workspaces`);
  for (const start of parents.keys()) {
    const seen = new Set<number>();
    for (let id: number | null | undefined = start; id !== null && id !== undefined; id = parents.get(id)) {
      if (seen.has(id)) {
        broken.push(`workspace cycle through ${id}`);
        break;
      }
      seen.add(id);
    }
  }
  return [...new Set(broken)];
}

async function acknowledgedWritesPresent(db: Db, clients: ClientModel[]): Promise<{ lost: string[]; checked: number }> {
  const lost: string[] = [];
  let checked = 0;
  for (const c of clients) {
    const usernames = c.users.map((u) => u.username.toLowerCase());
    const rows = usernames.length ? await db('users').whereIn('username_lower', usernames).select('username_lower', 'first_name') : [];
    const byName = new Map(rows.map((r: { username_lower: string; first_name: string }) => [r.username_lower, r.first_name]));
    for (const u of c.users) {
      checked++;
      const stored = byName.get(u.username.toLowerCase());
      if (stored === undefined) lost.push(`user ${u.username} (created, answered 2xx) is missing`);
      else if (stored !== u.firstName && !u.unknownSince.includes(stored)) lost.push(`user ${u.username}: first name "${stored}", expected "${u.firstName}"`);
    }
    if (c.membersCertain) {
      checked++;
      const members = new Set(
        (await db('group_members').join('groups', 'groups.id', 'group_members.group_id').join('users', 'users.id', 'group_members.user_id').where('groups.name_lower', c.group).select('users.username_lower')).map(
          (r: { username_lower: string }) => r.username_lower,
        ),
      );
      const expected = [...c.members].map((m) => m.toLowerCase());
      if (members.size !== expected.length || expected.some((m) => !members.has(m))) lost.push(`group ${c.group}: members ${[...members].sort().join(',')} ≠ acknowledged ${expected.sort().join(',')}`);
    }
    if (c.permissionsCertain) {
      checked++;
      const ids = new Set((await db('domain_permissions').join('groups', 'groups.id', 'domain_permissions.group_id').where('groups.name_lower', c.group).select('domain_permissions.id')).map((r: { id: number }) => Number(r.id)));
      const expected = [...c.permissionIds];
      if (ids.size !== expected.length || expected.some((id) => !ids.has(id))) lost.push(`group ${c.group}: permissions ${[...ids].sort().join(',')} ≠ acknowledged ${expected.sort().join(',')}`);
    }
  }
  return { lost, checked };
}

async function decisionsAgree(tokens: { operator: string }, clients: ClientModel[]): Promise<{ compared: number; disagreements: string[] }> {
  // A fresh engine over freshly loaded data: a new connection pool (so a new, empty index cache) on node 1.
  const fresh = createDb(loadConfig({ ...process.env, DATABASE_URL: databaseUrl(layout, ports.mysql(layout, 1)) }));
  const disagreements: string[] = [];
  let compared = 0;
  try {
    const users = clients.flatMap((c) => c.users.slice(0, 12).map((u) => u.username));
    const queries: CheckQuery[] = [];
    for (const user of users) for (const workspace of WORKSPACES) queries.push({ user, domain: 'Processes', operation: pick(['R', 'M', 'C', 'D']), workspace, level: Math.floor(Math.random() * 4) });
    const expected = await Promise.all(queries.map((q) => check(fresh, q).then((d) => `${d.allowed}/${d.reason}`)));
    for (const s of serverNumbers(layout)) {
      const o = await call(direct(s), tokens.operator, 'POST', '/check/batch', { checks: queries });
      if (!isOk(o)) {
        disagreements.push(`server ${s}: batch check answered ${o.status}`);
        continue;
      }
      (o.body.results as Array<{ allowed: boolean; reason: string }>).forEach((r, i) => {
        compared++;
        if (`${r.allowed}/${r.reason}` !== expected[i]) disagreements.push(`server ${s}: ${JSON.stringify(queries[i])} → ${r.allowed}/${r.reason}, database says ${expected[i]}`);
      });
    }
  } finally {
    await fresh.destroy();
  }
  return { compared, disagreements };
}

// ---- main -------------------------------------------------------------------------------------------------------

const SERVER_ENV: NodeJS.ProcessEnv = {
  // The test creates users at a rate no person would: a cheaper hash and no API rate limit keep the two
  // cores on the cluster rather than on scrypt.
  GATEHOUSE_SCRYPT_N: '1024',
  GATEHOUSE_API_RATE_LIMIT: '1000000',
  GATEHOUSE_SHUTDOWN_DRAIN_SECONDS: '2',
  GATEHOUSE_LOG_LEVEL: 'warn',
};

let passed = false;

async function main(): Promise<number> {
  const began = Date.now();
  log(`Fault test: cluster in ${layout.dir}, ports ${layout.base}–${layout.base + 99}, ${DURATION_MS / 1000} s of load`);
  await down(layout, () => undefined, { purge: true });
  await up(layout, log, { serverEnv: SERVER_ENV });
  const db = createDb(loadConfig({ ...process.env, DATABASE_URL: databaseUrl(layout, ports.haproxyMysql(layout)) }));
  try {
    const { tokens, ids, clients } = await setUp(db);
    const startedAt = Date.now();
    const until = startedAt + DURATION_MS;
    log('Load and faults start');
    const targets = [haproxy, haproxy, direct(1), direct(2), direct(3)];
    const work = [
      ...clients.map((c, i) => clientLoop(c, targets[i], tokens.operator, until)),
      invariantLoop(tokens, ids, until),
      faults(startedAt),
    ];
    await Promise.all(work);
    log('Load stopped; checking');

    // Every server serves again, by itself; every node Synced and caught up.
    for (const n of nodeNumbers()) await waitSynced(layout, n, 120_000);
    await waitFor('the nodes to hold the same last committed position', 60_000, async () => {
      const states = await Promise.all(nodeNumbers().map((n) => nodeState(layout, n)));
      return states.every((s) => isSynced(s) && s!.lastCommitted === states[0]!.lastCommitted);
    });
    const notServing: string[] = [];
    for (const s of serverNumbers(layout)) {
      const ready = await waitFor(`server ${s} ready`, 30_000, () => serverReady(layout, s)).catch(() => false);
      if (!ready) notServing.push(`server ${s} not ready 30 s after the load`);
    }

    const sums = await checksums();
    const differing = Object.keys(sums[1]).filter((t) => nodeNumbers().some((n) => sums[n][t] !== sums[1][t]));
    const broken = await invariantsHold(db);
    const { lost, checked } = await acknowledgedWritesPresent(db, clients);
    const decisions = await decisionsAgree(tokens, clients);

    if (lost.length) failures.push(`${lost.length} acknowledged writes lost: ${lost.slice(0, 10).join('; ')}`);
    if (differing.length) failures.push(`nodes differ in ${differing.join(', ')}`);
    if (broken.length) failures.push(`invariants broken: ${broken.join('; ')}`);
    if (stats.status5xxOther) failures.push(`${stats.status5xxOther} 5xx answers other than 503: ${other5xx.slice(0, 5).join(' | ')}`);
    if (stats.status503WithoutRetryAfter) failures.push(`${stats.status503WithoutRetryAfter} 503 answers without Retry-After`);
    if (notServing.length) failures.push(notServing.join('; '));
    if (decisions.disagreements.length) failures.push(`${decisions.disagreements.length} decisions disagree with the database: ${decisions.disagreements.slice(0, 5).join('; ')}`);
    if (invariantStats.superuserBothSucceeded) failures.push(`${invariantStats.superuserBothSucceeded} Superuser races where both deactivations succeeded`);
    if (invariantStats.workspaceBothSucceeded) failures.push(`${invariantStats.workspaceBothSucceeded} workspace races where both moves succeeded`);
    if (!rejoinedBy) failures.push('database node 2 did not rejoin');
    if (!partitionRejoinedBy) failures.push('database node 3 did not rejoin after its partition');

    const retries = await metricValue('gatehouse_transaction_retries_total');
    const longest = Math.max(0, ...Object.values(stats.byTarget).map((t) => t.longestUnavailableMs));
    const report = {
      when: new Date().toISOString(),
      durationSeconds: DURATION_MS / 1000,
      machine: { cpus: os.cpus().length, node: process.version },
      requests: stats.requests,
      writesAcknowledged: stats.writesAcknowledged,
      writesLost: lost.length,
      writesRefused4xx: stats.writesRefused4xx,
      writesOfUnknownOutcome: stats.writesUnknown,
      acknowledgedWritesChecked: checked,
      decisionsAnswered: stats.decisions,
      status5xxOtherThan503: stats.status5xxOther,
      status503: stats.status503,
      status503WithoutRetryAfter: stats.status503WithoutRetryAfter,
      noAnswer: stats.noAnswer,
      connectionsRefused: stats.connectionsRefused,
      longestUnavailabilityMs: longest,
      byTarget: stats.byTarget,
      transactionRetriesAfterwards: retries,
      invariantRaces: invariantStats,
      invariantsBroken: broken,
      nodesIdentical: differing.length === 0,
      tablesCompared: Object.keys(sums[1]).length,
      decisionsCompared: decisions.compared,
      decisionsDisagreeing: decisions.disagreements.length,
      node2RejoinedBy: rejoinedBy ?? null,
      node3RejoinedAfterPartition: !!partitionRejoinedBy,
      faults: faultLog,
      failures,
      totalSeconds: Math.round((Date.now() - began) / 1000),
    };
    fs.mkdirSync(path.join(REPO_ROOT, 'bench', 'results'), { recursive: true });
    fs.writeFileSync(path.join(REPO_ROOT, 'bench', 'results', 'cluster-fault-test.json'), `${JSON.stringify(report, null, 2)}\n`);

    console.log('');
    console.log('Cluster fault test');
    console.log(`  requests                       ${stats.requests} (${stats.decisions} decisions)`);
    console.log(`  writes acknowledged (2xx)      ${stats.writesAcknowledged}`);
    console.log(`  acknowledged writes lost       ${lost.length}   (${checked} objects checked)`);
    console.log(`  writes refused by a rule (4xx) ${stats.writesRefused4xx}`);
    console.log(`  writes of unknown outcome      ${stats.writesUnknown}   (503 or no answer)`);
    console.log(`  5xx other than 503             ${stats.status5xxOther}`);
    console.log(`  503 (with Retry-After)         ${stats.status503} (${stats.status503 - stats.status503WithoutRetryAfter})`);
    console.log(`  connections refused            ${stats.connectionsRefused}   (straight to a restarting server; nothing sent)`);
    console.log(`  no answer (reset, timeout)     ${stats.noAnswer}`);
    console.log(`  longest unavailability         ${(longest / 1000).toFixed(1)} s   (${Object.entries(stats.byTarget).map(([k, v]) => `${k} ${(v.longestUnavailableMs / 1000).toFixed(1)} s`).join(', ')})`);
    console.log(`  transaction retries            ${retries}`);
    console.log(`  invariant races                ${JSON.stringify(invariantStats)}`);
    console.log(`  invariants broken              ${broken.length ? broken.join('; ') : 'none'}`);
    console.log(`  nodes identical                ${differing.length ? `no: ${differing.join(', ')}` : `yes (${Object.keys(sums[1]).length} tables, CHECKSUM TABLE)`}`);
    console.log(`  decisions compared             ${decisions.compared}, disagreeing ${decisions.disagreements.length}`);
    console.log(`  node 2 rejoined by             ${rejoinedBy ?? 'did not rejoin'}`);
    console.log(`  node 3 after its partition     ${partitionRejoinedBy ? 'rejoined' : 'did not rejoin'}`);
    console.log(`  saved                          bench/results/cluster-fault-test.json`);
    console.log('');
    if (failures.length) {
      console.log('FAILED:');
      for (const f of failures) console.log(`  - ${f}`);
      console.log('0 passed, 1 failed');
      return 1;
    }
    console.log('1 passed, 0 failed');
    passed = true;
    return 0;
  } finally {
    await db.destroy();
    if (args.keep) log(`Cluster left running: GATEHOUSE_CLUSTER_DIR=${layout.dir} GATEHOUSE_CLUSTER_PORT_BASE=${layout.base} npm run cluster:down`);
    else await down(layout, () => undefined, { purge: passed });
    if (!passed && !args.keep) {
      console.log(serverLogTails());
      log(`Logs kept in ${layout.dir}`);
    }
  }
}

/** The last lines of each server's log, to explain a failure. */
function serverLogTails(): string {
  return serverNumbers(layout)
    .map((s) => {
      const file = paths.serverLog(layout, s);
      const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim().split('\n').slice(-15) : [];
      return `--- ${file}\n${lines.join('\n')}`;
    })
    .join('\n');
}

/** The sum of a metric over every server (a counter of each server process since it started). */
async function metricValue(name: string): Promise<number> {
  let total = 0;
  for (const s of serverNumbers(layout)) {
    const text = await fetch(`${direct(s).url}/metrics`).then((r) => r.text()).catch(() => '');
    for (const line of text.split('\n')) if (line.startsWith(name)) total += Number(line.split(' ').pop()) || 0;
  }
  return total;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.stack ?? err.message : err);
    console.error('0 passed, 1 failed');
    void (args.keep ? Promise.resolve() : down(layout, () => undefined)).finally(() => process.exit(1));
  },
);
