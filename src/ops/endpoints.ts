/**
 * GET /healthz  — the process is alive and serving (no database access): 200 {"status":"ok"}.
 * GET /readyz   — this server should receive traffic: the database answers, the decision index is loaded and
 *                 following the database, and the server is not draining for a shutdown. 503 (with
 *                 Retry-After) otherwise, so HAProxy or Kubernetes takes it out of rotation.
 * GET /metrics  — Prometheus exposition.
 * They sit before sessions, CSRF and the routers: no cookie is set, no session row read. Readiness and
 * metrics say nothing about users, data or errors (checks are named and answered ok/failed), and can be
 * limited to networks (GATEHOUSE_OPS_ALLOWED_CIDRS) or a bearer token (GATEHOUSE_OPS_TOKEN).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type Koa from 'koa';
import type { Config } from '../config';
import type { Db } from '../db/connect';
import type { Lifecycle } from './lifecycle';
import type { OpsMetrics } from './metrics';
import { indexStatus } from './indexStatus';

export interface OpsAccess {
  /** Networks allowed to read /readyz and /metrics (CIDR notation); empty with no token: anyone. */
  allowedCidrs: string[];
  /** A bearer token that also grants access (from anywhere). */
  token?: string;
}

/** Parses "10.0.0.0/8, 127.0.0.1, ::1/128" into a BlockList; throws on a malformed entry. */
export function cidrList(entries: string[]): BlockList {
  const list = new BlockList();
  for (const raw of entries) {
    const [address, bits] = raw.trim().split('/');
    const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    if (!type) throw new Error(`"${raw}" is not an IP address or CIDR range`);
    const prefix = bits === undefined ? (type === 'ipv4' ? 32 : 128) : Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128)) throw new Error(`"${raw}" has an invalid prefix length`);
    list.addSubnet(address, prefix, type);
  }
  return list;
}

function addressAllowed(list: BlockList, ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const address = mapped ? mapped[1] : ip;
  if (isIPv4(address)) return list.check(address, 'ipv4');
  if (isIPv6(address)) return list.check(address, 'ipv6');
  return false;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function tokenMatches(expected: string, header: string): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  return !!m && timingSafeEqual(digest(m[1]), digest(expected));
}

export function opsAccessAllowed(access: OpsAccess, list: BlockList, ip: string, authorization: string): boolean {
  if (!access.allowedCidrs.length && !access.token) return true;
  if (access.allowedCidrs.length && addressAllowed(list, ip)) return true;
  return !!access.token && tokenMatches(access.token, authorization);
}

async function databaseAnswers(db: Db, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([db.raw('SELECT 1').then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function opsEndpoints(config: Pick<Config, 'opsAccess'>, db: Db, metrics: OpsMetrics, lifecycle: Lifecycle): Koa.Middleware {
  const list = cidrList(config.opsAccess.allowedCidrs);
  const json = (ctx: Koa.Context, status: number, body: unknown) => {
    ctx.status = status;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = body;
  };
  return async (ctx, next) => {
    const route = ctx.path === '/healthz' || ctx.path === '/readyz' || ctx.path === '/metrics' ? ctx.path : undefined;
    if (!route) return next();
    ctx.state.opsRoute = route;
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      return json(ctx, 405, { error: { code: 'method_not_allowed', message: 'Use GET.', details: null } });
    }
    if (route === '/healthz') return json(ctx, 200, { status: 'ok' });
    if (!opsAccessAllowed(config.opsAccess, list, ctx.ip, ctx.get('Authorization'))) {
      return json(ctx, 403, { error: { code: 'forbidden', message: 'Not available from this address without the operations token.', details: null } });
    }
    if (route === '/metrics') {
      const { contentType, body } = await metrics.render();
      ctx.set('Cache-Control', 'no-store');
      ctx.type = contentType;
      ctx.body = body;
      return;
    }
    if (lifecycle.draining) {
      ctx.set('Retry-After', '1');
      return json(ctx, 503, { status: 'shutting down', checks: {} });
    }
    const database = await databaseAnswers(db, 2000);
    const index = indexStatus(db);
    const checks = { database: database ? 'ok' : 'failed', index: index.loaded ? 'loaded' : 'not loaded', changeLog: index.following ? 'following' : 'behind' };
    const ready = database && index.loaded && index.following;
    if (!ready) ctx.set('Retry-After', '1');
    return json(ctx, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks });
  };
}
