/** Bringing the whole local cluster up and down, idempotently: whatever already runs is left running. */
import fs from 'node:fs';
import { type Layout, nodeNumbers, paths, ports, preferredNode, serverNumbers } from './layout';
import { ensurePackages } from './packages';
import { bootstrapCandidate, isSynced, nodePid, nodeState, startNode, stopNode, waitSynced } from './galera';
import { haproxyPid, startHaproxy, stopHaproxy } from './haproxy';
import { credentials, prepareClusterDatabase, REPO_ROOT, serverPid, serverReady, startServer, stopServer, waitServerReady } from './gatehouse';
import { runningPid, spawnDetached, stopProcess, waitFor } from './proc';
import { portOpen } from './proc';

export type Log = (line: string) => void;

export function statusResponderPid(l: Layout, n: number): number | undefined {
  return runningPid(paths.statusPid(l, n));
}

export async function startStatusResponder(l: Layout, n: number): Promise<void> {
  if (statusResponderPid(l, n)) return;
  spawnDetached(process.execPath, ['--import', 'tsx', 'ops/cluster/galera-status.ts', '--port', String(ports.status(l, n)), '--socket', paths.nodeSocket(l, n)], {
    log: paths.statusLog(l, n),
    pidFile: paths.statusPid(l, n),
    cwd: REPO_ROOT,
  });
  await waitFor(`the status responder of node ${n}`, 20_000, () => portOpen(ports.status(l, n)));
}

/** Starts the database nodes: forms the cluster from the best node when none runs, then joins the others. */
export async function startDatabase(l: Layout, log: Log): Promise<void> {
  const running = nodeNumbers().filter((n) => nodePid(l, n));
  if (!running.length) {
    const first = bootstrapCandidate(l);
    log(`Forming the cluster from node ${first} …`);
    await startNode(l, first, { bootstrap: true });
    await waitSynced(l, first);
  }
  for (const n of nodeNumbers()) {
    if (nodePid(l, n)) continue;
    log(`Node ${n} joining …`);
    await startNode(l, n);
    await waitSynced(l, n);
  }
  for (const n of nodeNumbers()) await waitSynced(l, n);
}

export interface UpOptions {
  /** Extra environment for the Gatehouse servers (the fault test raises the API rate limit). */
  serverEnv?: NodeJS.ProcessEnv;
}

export async function up(l: Layout, log: Log, options: UpOptions = {}): Promise<void> {
  ensurePackages(log);
  fs.mkdirSync(l.dir, { recursive: true });
  fs.chmodSync(l.dir, 0o755); // mariadbd runs as mysql and must reach its folder
  credentials(l);
  await startDatabase(l, log);
  for (const n of nodeNumbers()) await startStatusResponder(l, n);
  await startHaproxy(l);
  await waitFor('HAProxy to see a usable database node', 20_000, () => portOpen(ports.haproxyMysql(l)));
  log('Migrating and seeding the database …');
  await waitFor('the database through HAProxy', 30_000, async () => {
    await prepareClusterDatabase(l, nodeNumbers().find((n) => nodePid(l, n)) ?? 1);
    return true;
  }, 1000);
  for (const s of serverNumbers(l)) startServer(l, s, options.serverEnv);
  for (const s of serverNumbers(l)) await waitServerReady(l, s);
  await waitFor('HAProxy to route to the Gatehouse servers', 20_000, async () => {
    const res = await fetch(`http://127.0.0.1:${ports.haproxyHttp(l)}/readyz`, { signal: AbortSignal.timeout(2000) });
    return res.status === 200;
  });
}

export async function down(l: Layout, log: Log, options: { purge?: boolean } = {}): Promise<void> {
  for (const s of serverNumbers(l)) {
    if (serverPid(l, s)) log(`Stopping Gatehouse server ${s} …`);
    await stopServer(l, s);
  }
  await stopHaproxy(l);
  for (const n of nodeNumbers()) {
    const pid = statusResponderPid(l, n);
    if (pid) await stopProcess(pid, 'SIGTERM', 5_000);
  }
  // In reverse order, so node 1 is the last to stop and the one marked safe to start the cluster from.
  for (const n of [...nodeNumbers()].reverse()) {
    if (nodePid(l, n)) log(`Stopping database node ${n} …`);
    await stopNode(l, n);
  }
  if (options.purge) {
    fs.rmSync(l.dir, { recursive: true, force: true });
    log(`Removed ${l.dir}`);
  }
}

export async function describe(l: Layout): Promise<string> {
  const lines: string[] = [];
  const c = fs.existsSync(paths.credentials(l)) ? credentials(l) : undefined;
  lines.push(`Gatehouse cluster in ${l.dir}`);
  lines.push('');
  lines.push(`  Console and API (HAProxy):  http://127.0.0.1:${ports.haproxyHttp(l)}`);
  if (c) lines.push(`  Sign in as:                 ${c.adminUsername} / ${c.adminPassword}`);
  lines.push(`  HAProxy statistics:         http://127.0.0.1:${ports.haproxyStats(l)}   ${haproxyPid(l) ? 'running' : 'stopped'}`);
  lines.push('');
  for (const s of serverNumbers(l)) {
    const state = !serverPid(l, s) ? 'stopped' : (await serverReady(l, s)) ? 'ready' : 'not ready';
    lines.push(`  Gatehouse server ${s}:         http://127.0.0.1:${ports.server(l, s)}   ${state}   (database: node ${preferredNode(s)} first, via 127.0.0.1:${ports.haproxyMysqlFor(l, s)}; log ${paths.serverLog(l, s)})`);
  }
  lines.push('');
  lines.push(`  Database through HAProxy:   mariadb -h127.0.0.1 -P${ports.haproxyMysql(l)} -ugatehouse -p'${c?.dbPassword ?? '…'}' gatehouse`);
  for (const n of nodeNumbers()) {
    const s = nodePid(l, n) ? await nodeState(l, n) : undefined;
    const state = !nodePid(l, n) ? 'stopped' : s ? `${s.comment}, ${s.clusterStatus}, cluster size ${s.clusterSize}${isSynced(s) ? '' : ' (not usable)'}` : 'starting';
    lines.push(`  Database node ${n}:            127.0.0.1:${ports.mysql(l, n)}   ${state}   (mariadb -S ${paths.nodeSocket(l, n)} -uroot; log ${paths.nodeLog(l, n)})`);
  }
  lines.push('');
  lines.push('  Stop with: npm run cluster:down        (keeps the data; add -- --purge to remove it)');
  return lines.join('\n');
}
