/**
 * MariaDB Galera nodes on this machine: each with its own configuration file (read alone, so the system
 * MariaDB's /etc/mysql settings and port 3306 are never involved), data directory, ports and logs.
 */
import fs from 'node:fs';
import mysql from 'mysql2/promise';
import { type Layout, nodeNumbers, paths, ports } from './layout';
import { isAlive, readPid, run, runOrThrow, runningPid, sleep, spawnDetached, stopProcess, waitFor } from './proc';

const MARIADBD = '/usr/sbin/mariadbd';

export function nodeConfig(l: Layout, n: number): string {
  const cluster = nodeNumbers()
    .map((i) => `127.0.0.1:${ports.galera(l, i)}`)
    .join(',');
  return `# Gatehouse local cluster, node ${n}: written by ops/cluster (npm run cluster:up); read with --defaults-file only.
[mariadbd]
datadir=${paths.nodeData(l, n)}
socket=${paths.nodeSocket(l, n)}
pid-file=${paths.nodePid(l, n)}
log-error=${paths.nodeLog(l, n)}
port=${ports.mysql(l, n)}
bind-address=127.0.0.1
user=mysql
skip-name-resolve
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
max_connections=300

# What Galera needs: row-based events, InnoDB, interleaved auto-increment locks.
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
# Durability comes from the other nodes holding the write set; a small footprint suits a laptop.
innodb_flush_log_at_trx_commit=2
innodb_buffer_pool_size=128M
innodb_log_file_size=32M

wsrep_on=ON
wsrep_provider=/usr/lib/galera/libgalera_smm.so
wsrep_cluster_name=gatehouse
wsrep_cluster_address=gcomm://${cluster}
wsrep_node_name=node${n}
wsrep_node_address=127.0.0.1:${ports.galera(l, n)}
wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:${ports.galera(l, n)};ist.recv_addr=127.0.0.1:${ports.ist(l, n)};gcache.size=256M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.install_timeout=PT6S"
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:${ports.sst(l, n)}
wsrep_slave_threads=2
# Causal reads: a statement waits until this node has applied every write set committed anywhere before it
# started, so a change made through one server is visible through every other one at once.
wsrep_sync_wait=1
`;
}

export interface NodeState {
  /** 4 = Synced, 2 = Donor/Desynced, 1 = Joining, 3 = Joined. */
  localState: number;
  comment: string;
  clusterStatus: string;
  clusterSize: number;
  ready: boolean;
  lastCommitted: number;
}

export async function connectNode(l: Layout, n: number, database?: string) {
  return mysql.createConnection({ socketPath: paths.nodeSocket(l, n), user: 'root', database, connectTimeout: 2000 });
}

export async function nodeState(l: Layout, n: number): Promise<NodeState | undefined> {
  if (!fs.existsSync(paths.nodeSocket(l, n))) return undefined;
  let conn: mysql.Connection | undefined;
  try {
    conn = await connectNode(l, n);
    const [rows] = await conn.query(
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state','wsrep_local_state_comment','wsrep_cluster_status','wsrep_cluster_size','wsrep_ready','wsrep_last_committed')",
    );
    const v = Object.fromEntries((rows as Array<{ Variable_name: string; Value: string }>).map((r) => [r.Variable_name, r.Value]));
    return {
      localState: Number(v.wsrep_local_state),
      comment: v.wsrep_local_state_comment,
      clusterStatus: v.wsrep_cluster_status,
      clusterSize: Number(v.wsrep_cluster_size),
      ready: v.wsrep_ready === 'ON',
      lastCommitted: Number(v.wsrep_last_committed),
    };
  } catch {
    return undefined;
  } finally {
    await conn?.end().catch(() => undefined);
  }
}

export const isSynced = (s: NodeState | undefined): boolean => !!s && s.localState === 4 && s.clusterStatus === 'Primary' && s.ready;

export function nodePid(l: Layout, n: number): number | undefined {
  return runningPid(paths.nodePid(l, n) + '.launcher');
}

function hasData(l: Layout, n: number): boolean {
  return fs.existsSync(`${paths.nodeData(l, n)}/mysql`);
}

interface GaleraState {
  uuid: string;
  seqno: number;
  safeToBootstrap: boolean;
}

function readGrastate(l: Layout, n: number): GaleraState | undefined {
  try {
    const text = fs.readFileSync(`${paths.nodeData(l, n)}/grastate.dat`, 'utf8');
    const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(text)?.[1] ?? '';
    return { uuid: field('uuid'), seqno: Number(field('seqno')), safeToBootstrap: field('safe_to_bootstrap') === '1' };
  } catch {
    return undefined;
  }
}

/** After a crash the saved seqno is -1: ask InnoDB where the node really stopped (what galera_recovery does). */
function recoverPosition(l: Layout, n: number): { uuid: string; seqno: number } | undefined {
  const log = `${paths.node(l, n)}/recover.log`;
  fs.rmSync(log, { force: true });
  run(MARIADBD, [`--defaults-file=${paths.nodeConfig(l, n)}`, '--wsrep-recover', `--log-error=${log}`]);
  const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
  const m = /WSREP: Recovered position: ([0-9a-f-]+):(-?\d+)/.exec(text);
  return m ? { uuid: m[1], seqno: Number(m[2]) } : undefined;
}

function prepareDirectory(l: Layout, n: number): void {
  fs.mkdirSync(paths.nodeData(l, n), { recursive: true });
  fs.writeFileSync(paths.nodeConfig(l, n), nodeConfig(l, n));
  runOrThrow('chown', ['-R', 'mysql:mysql', paths.node(l, n)]);
}

function initialise(l: Layout, n: number): void {
  runOrThrow('mariadb-install-db', [`--defaults-file=${paths.nodeConfig(l, n)}`, '--auth-root-authentication-method=normal', '--skip-test-db']);
}

/**
 * Starts node n (no-op when running). `bootstrap` forms a new cluster from this node's data (initialised when
 * empty); otherwise it joins the running ones, by an incremental transfer when their cache still holds what
 * it missed, else by a snapshot.
 */
export async function startNode(l: Layout, n: number, opts: { bootstrap?: boolean } = {}): Promise<void> {
  if (nodePid(l, n)) return;
  prepareDirectory(l, n);
  const args = [`--defaults-file=${paths.nodeConfig(l, n)}`];
  if (opts.bootstrap) {
    if (!hasData(l, n)) initialise(l, n);
    args.push('--wsrep-new-cluster');
  }
  const saved = readGrastate(l, n);
  if (saved && saved.seqno === -1 && hasData(l, n)) {
    const recovered = recoverPosition(l, n);
    if (recovered && recovered.seqno >= 0) args.push(`--wsrep-start-position=${recovered.uuid}:${recovered.seqno}`);
  }
  spawnDetached(MARIADBD, args, { log: `${paths.node(l, n)}/stdout.log`, pidFile: paths.nodePid(l, n) + '.launcher' });
}

/** Picks the node to bootstrap from when none is running: the one Galera marked safe, else the most advanced. */
export function bootstrapCandidate(l: Layout): number {
  const withData = nodeNumbers().filter((n) => hasData(l, n));
  if (!withData.length) return 1;
  const safe = withData.find((n) => readGrastate(l, n)?.safeToBootstrap);
  if (safe) return safe;
  let best = withData[0];
  let bestSeqno = -2;
  for (const n of withData) {
    const saved = readGrastate(l, n);
    const seqno = saved && saved.seqno >= 0 ? saved.seqno : (recoverPosition(l, n)?.seqno ?? -1);
    if (seqno > bestSeqno) {
      best = n;
      bestSeqno = seqno;
    }
  }
  // Every node stopped uncleanly: the most advanced one is safe to start the cluster from.
  const file = `${paths.nodeData(l, best)}/grastate.dat`;
  if (fs.existsSync(file)) fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/safe_to_bootstrap:\s*0/, 'safe_to_bootstrap: 1'));
  return best;
}

export async function waitSynced(l: Layout, n: number, timeoutMs = 180_000): Promise<NodeState> {
  return waitFor(`node ${n} to be Synced (log: ${paths.nodeLog(l, n)})`, timeoutMs, async () => {
    const pid = nodePid(l, n);
    if (!pid) throw new Error(`node ${n} exited; see ${paths.nodeLog(l, n)}`);
    const s = await nodeState(l, n);
    return isSynced(s) ? s : undefined;
  });
}

/** SIGKILL: what a crash or a pulled plug looks like to the rest of the cluster. */
export async function killNode(l: Layout, n: number): Promise<void> {
  const pid = nodePid(l, n);
  if (pid) await stopProcess(pid, 'SIGKILL', 5_000);
}

/**
 * Cuts node n off from the others (Galera's gmcast.isolate), as a network partition would: it falls into a
 * non-Primary component of one and refuses queries until `isolated` is false again, then rejoins.
 */
export async function isolateNode(l: Layout, n: number, isolated: boolean): Promise<void> {
  const conn = await connectNode(l, n);
  try {
    await conn.query(`SET GLOBAL wsrep_provider_options = 'gmcast.isolate=${isolated ? 1 : 0}'`);
  } finally {
    await conn.end();
  }
}

/** A clean shutdown (the last node stopped is marked safe to bootstrap from). */
export async function stopNode(l: Layout, n: number): Promise<void> {
  const pid = nodePid(l, n);
  if (pid) await stopProcess(pid, 'SIGTERM', 120_000);
  await sleep(50);
}

/** How this node last joined: "IST", "SST" or undefined, from its error log. */
export function lastJoinMethod(l: Layout, n: number): 'IST' | 'SST' | undefined {
  const text = fs.existsSync(paths.nodeLog(l, n)) ? fs.readFileSync(paths.nodeLog(l, n), 'utf8') : '';
  const ist = text.lastIndexOf('IST received');
  const sst = Math.max(text.lastIndexOf('SST received'), text.lastIndexOf('SST succeeded'));
  if (ist < 0 && sst < 0) return undefined;
  return ist > sst ? 'IST' : 'SST';
}

export { isAlive, readPid };
