/**
 * HAProxy in front of both tiers:
 * - the database: one TCP listener per Gatehouse server that prefers "its" node and keeps the other two as
 *   backups (so the servers' writes reach every node and exercise certification, while each server reads
 *   its own writes), plus one listener for everyone else. A node is taken out when its status responder
 *   (ops/cluster/galera-status.ts) stops answering 200, i.e. when it is not Synced in the Primary component,
 *   and the connections still open to it are cut so the servers' pools reconnect elsewhere.
 * - Gatehouse: round robin over the servers whose /readyz answers 200; a refused connection is tried on
 *   another server, and when none is ready the client gets a 503 with Retry-After.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type Layout, nodeNumbers, paths, ports, preferredNode, serverNumbers } from './layout';
import { portOpen, runOrThrow, runningPid, spawnDetached, stopProcess, waitFor } from './proc';

const HAPROXY = '/usr/sbin/haproxy';

const UNAVAILABLE_503 = [
  'HTTP/1.1 503 Service Unavailable',
  'Content-Type: application/json',
  'Cache-Control: no-store',
  'Retry-After: 1',
  'Connection: close',
  '',
  '{"error":{"code":"unavailable","message":"No Gatehouse server is available right now. Please retry in a moment.","details":null}}',
  '',
].join('\r\n');

function databaseListener(l: Layout, name: string, port: number, preferred: number | undefined): string {
  const servers = nodeNumbers().map((n) => {
    const backup = preferred !== undefined && n !== preferred ? ' backup' : '';
    return `  server node${n} 127.0.0.1:${ports.mysql(l, n)} check port ${ports.status(l, n)}${backup}`;
  });
  return `listen ${name}
  bind 127.0.0.1:${port}
  mode tcp
  balance leastconn
  timeout client 2h
  timeout server 2h
  option httpchk GET /
  http-check expect status 200
  default-server inter 1s fastinter 500ms downinter 1s rise 2 fall 2 on-marked-down shutdown-sessions
${servers.join('\n')}
`;
}

export function haproxyConfig(l: Layout): string {
  const dbListeners = [
    databaseListener(l, 'mysql', ports.haproxyMysql(l), undefined),
    ...serverNumbers(l).map((s) => databaseListener(l, `mysql_for_gatehouse${s}`, ports.haproxyMysqlFor(l, s), preferredNode(s))),
  ];
  const appServers = serverNumbers(l).map((s) => `  server gatehouse${s} 127.0.0.1:${ports.server(l, s)} check`);
  return `# Gatehouse local cluster: written by ops/cluster (npm run cluster:up).
global
  maxconn 4000
  stats socket ${path.join(paths.haproxy(l), 'admin.sock')} mode 600 level admin

defaults
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout queue 5s
  retries 3
  option redispatch 1

${dbListeners.join('\n')}
frontend gatehouse_http
  bind 127.0.0.1:${ports.haproxyHttp(l)}
  mode http
  option forwardfor
  timeout http-request 10s
  timeout http-keep-alive 10s
  default_backend gatehouse

backend gatehouse
  mode http
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  # A server that stops accepting (restarting) or closes an idle connection as a request arrives: try another.
  retry-on conn-failure empty-response
  errorfile 503 ${path.join(paths.haproxy(l), '503.http')}
  default-server inter 1s fastinter 500ms downinter 1s rise 2 fall 2
${appServers.join('\n')}

listen stats
  bind 127.0.0.1:${ports.haproxyStats(l)}
  mode http
  stats enable
  stats uri /
  stats refresh 2s
`;
}

export function haproxyPid(l: Layout): number | undefined {
  return runningPid(paths.haproxyPid(l));
}

export async function startHaproxy(l: Layout): Promise<void> {
  if (haproxyPid(l)) return;
  fs.mkdirSync(paths.haproxy(l), { recursive: true });
  fs.writeFileSync(path.join(paths.haproxy(l), '503.http'), UNAVAILABLE_503);
  fs.writeFileSync(paths.haproxyConfig(l), haproxyConfig(l));
  runOrThrow(HAPROXY, ['-c', '-q', '-f', paths.haproxyConfig(l)]);
  // -W: master-worker in the foreground of its own session; the pid file names the master.
  spawnDetached(HAPROXY, ['-W', '-f', paths.haproxyConfig(l)], { log: path.join(paths.haproxy(l), 'haproxy.log'), pidFile: paths.haproxyPid(l) });
  await waitFor('HAProxy to listen', 10_000, async () => {
    if (!haproxyPid(l)) throw new Error(`HAProxy exited; see ${path.join(paths.haproxy(l), 'haproxy.log')}`);
    return portOpen(ports.haproxyHttp(l));
  });
}

export async function stopHaproxy(l: Layout): Promise<void> {
  const pid = haproxyPid(l);
  if (pid) await stopProcess(pid, 'SIGUSR1', 10_000); // soft stop: finish what is in flight
}
