/**
 * The health check HAProxy asks about one Galera node: HTTP 200 when the node is Synced and in the Primary
 * component (so it accepts reads and writes that the cluster will keep), 503 otherwise — a node that is
 * joining, acting as a donor, cut off in a minority partition or not answering within a second.
 * A TCP or MySQL-handshake check would keep all of those in rotation.
 *
 *   node --import tsx ops/cluster/galera-status.ts --port 24051 --socket /tmp/gatehouse-cluster/node1/mysqld.sock
 */
import http from 'node:http';
import mysql from 'mysql2/promise';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, socket: { type: 'string' } } });
if (!values.port || !values.socket) {
  console.error('Usage: galera-status.ts --port P --socket /path/to/mysqld.sock');
  process.exit(2);
}
const socketPath = values.socket;

let conn: mysql.Connection | undefined;

async function nodeIsUsable(): Promise<{ ok: boolean; state: string }> {
  try {
    conn ??= await mysql.createConnection({ socketPath, user: 'root', connectTimeout: 1000 });
    const query = conn.query({
      sql: "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state','wsrep_local_state_comment','wsrep_cluster_status','wsrep_ready')",
      timeout: 1000,
    });
    const [rows] = await query;
    const v = Object.fromEntries((rows as Array<{ Variable_name: string; Value: string }>).map((r) => [r.Variable_name, r.Value]));
    const ok = v.wsrep_local_state === '4' && v.wsrep_cluster_status === 'Primary' && v.wsrep_ready === 'ON';
    return { ok, state: `${v.wsrep_local_state_comment ?? '?'} / ${v.wsrep_cluster_status ?? '?'}` };
  } catch {
    const old = conn;
    conn = undefined;
    old?.destroy();
    return { ok: false, state: 'unreachable' };
  }
}

const server = http.createServer((req, res) => {
  void nodeIsUsable().then(({ ok, state }) => {
    res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end(`${ok ? 'usable' : 'not usable'}: ${state}\n`);
  });
});
server.listen(Number(values.port), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
