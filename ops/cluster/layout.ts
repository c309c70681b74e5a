/**
 * Where a local cluster lives: one folder (data, configuration, logs, pid files, credentials) and a block of
 * loopback ports from a base. `npm run cluster:up` uses base 24000 in $TMPDIR/gatehouse-cluster; the fault
 * test uses a folder and a block of its own so that it never touches a cluster someone started by hand.
 */
import os from 'node:os';
import path from 'node:path';

export const NODE_COUNT = 3;

export interface Layout {
  dir: string;
  base: number;
  /** How many Gatehouse servers (2 or 3). */
  servers: number;
}

export function layoutFromEnv(env: NodeJS.ProcessEnv = process.env): Layout {
  const base = Number(env.GATEHOUSE_CLUSTER_PORT_BASE || 24000);
  const servers = Number(env.GATEHOUSE_CLUSTER_SERVERS || 3);
  if (!Number.isInteger(base) || base < 1024 || base > 65000) throw new Error('GATEHOUSE_CLUSTER_PORT_BASE must be a port number between 1024 and 65000.');
  if (servers !== 2 && servers !== 3) throw new Error('GATEHOUSE_CLUSTER_SERVERS must be 2 or 3.');
  return { dir: path.resolve(env.GATEHOUSE_CLUSTER_DIR || path.join(os.tmpdir(), 'gatehouse-cluster')), base, servers };
}

export const nodeNumbers = (): number[] => Array.from({ length: NODE_COUNT }, (_, i) => i + 1);
export const serverNumbers = (l: Layout): number[] => Array.from({ length: l.servers }, (_, i) => i + 1);

export const ports = {
  /** MariaDB client port of node n. */
  mysql: (l: Layout, n: number) => l.base + 10 + n,
  /** Galera group communication. */
  galera: (l: Layout, n: number) => l.base + 20 + n,
  /** Incremental state transfer. */
  ist: (l: Layout, n: number) => l.base + 30 + n,
  /** Snapshot state transfer (rsync). */
  sst: (l: Layout, n: number) => l.base + 40 + n,
  /** The node's status responder: 200 when Synced and Primary, HAProxy's health check. */
  status: (l: Layout, n: number) => l.base + 50 + n,
  /** HAProxy: the database for everyone (any healthy node). */
  haproxyMysql: (l: Layout) => l.base + 60,
  /** HAProxy: the database as Gatehouse server s sees it (its own preferred node, the others as backups). */
  haproxyMysqlFor: (l: Layout, s: number) => l.base + 60 + s,
  /** HAProxy: Gatehouse over HTTP, balanced over every ready server. */
  haproxyHttp: (l: Layout) => l.base + 80,
  /** HAProxy's statistics page. */
  haproxyStats: (l: Layout) => l.base + 81,
  /** Gatehouse server s. */
  server: (l: Layout, s: number) => l.base + 90 + s,
};

/** The node Gatehouse server s prefers: servers spread over the nodes, so writes reach every node. */
export const preferredNode = (s: number): number => ((s - 1) % NODE_COUNT) + 1;

export const paths = {
  node: (l: Layout, n: number) => path.join(l.dir, `node${n}`),
  nodeData: (l: Layout, n: number) => path.join(l.dir, `node${n}`, 'data'),
  nodeConfig: (l: Layout, n: number) => path.join(l.dir, `node${n}`, 'my.cnf'),
  nodeSocket: (l: Layout, n: number) => path.join(l.dir, `node${n}`, 'mysqld.sock'),
  nodePid: (l: Layout, n: number) => path.join(l.dir, `node${n}`, 'mysqld.pid'),
  nodeLog: (l: Layout, n: number) => path.join(l.dir, `node${n}`, 'error.log'),
  statusPid: (l: Layout, n: number) => path.join(l.dir, `node${n}`, 'status.pid'),
  statusLog: (l: Layout, n: number) => path.join(l.dir, `node${n}`, 'status.log'),
  haproxy: (l: Layout) => path.join(l.dir, 'haproxy'),
  haproxyConfig: (l: Layout) => path.join(l.dir, 'haproxy', 'haproxy.cfg'),
  haproxyPid: (l: Layout) => path.join(l.dir, 'haproxy', 'haproxy.pid'),
  server: (l: Layout, s: number) => path.join(l.dir, `gatehouse${s}`),
  serverPid: (l: Layout, s: number) => path.join(l.dir, `gatehouse${s}`, 'server.pid'),
  serverLog: (l: Layout, s: number) => path.join(l.dir, `gatehouse${s}`, 'server.log'),
  credentials: (l: Layout) => path.join(l.dir, 'credentials.json'),
};
