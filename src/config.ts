import path from 'node:path';
import { parseSsoConfig, type SsoConfig } from './sso/config';

/** Everything the app reads from its environment, read in one place. */
export interface Config {
  env: 'production' | 'development' | 'test';
  /** `mysql://user:pass@host:port/db` for MySQL/MariaDB; unset means the embedded SQLite file. */
  databaseUrl?: string;
  /** SQLite file used when `databaseUrl` is unset; `:memory:` for throw-away databases. */
  sqliteFile: string;
  host: string;
  port: number;
  /** Public base URL, used in printed links and SSO redirects. */
  baseUrl: string;
  /** Secret(s) that sign the session cookie. When unset, one is generated and kept in the database. */
  sessionSecret?: string;
  /** Idle timeout: a session unused this long ends. */
  sessionMaxAgeMs: number;
  /** Absolute lifetime: a session ends this long after sign-in, however active. */
  sessionAbsoluteMs: number;
  /** Sensitive changes ask for the password (or a second factor) again when the last proof is older. */
  reauthMs: number;
  /** Set the Secure flag on cookies (needs HTTPS, or `trustProxy` behind a TLS-terminating proxy). */
  cookieSecure: boolean;
  trustProxy: boolean;
  /** scrypt cost parameter N (power of two). OWASP: 2^17 with r=8, p=1. Tests lower it to stay fast. */
  scryptN: number;
  /** Throttling of password guessing by account and by client address (src/auth/throttle.ts). */
  throttle: ThrottleConfig;
  /** SMTP server for password-reset mail (`smtp://user:pass@host:587`); unset: no "Forgot password". */
  smtpUrl?: string;
  /** The sender of Gatehouse's mail. */
  mailFrom: string;
  /** Cache compiled templates (on in production). */
  cacheTemplates: boolean;
  /** API requests allowed per token per minute. */
  apiRateLimitPerMinute: number;
  /** Single sign-on (OpenID Connect); unset when no GATEHOUSE_OIDC_* variable is set. */
  sso?: SsoConfig;
  /** pino level: fatal, error, warn, info, debug, trace or silent. */
  logLevel: string;
  /** Who may read /readyz and /metrics (src/ops/endpoints.ts). */
  opsAccess: { allowedCidrs: string[]; token?: string };
  /** Database pool (MySQL/MariaDB): most connections, and how long a request waits for one before a 503. */
  dbPoolMax: number;
  dbAcquireTimeoutMs: number;
  /** SIGTERM: answer /readyz 503 for this long before closing the listener, then wait this long for requests in flight. */
  shutdownDrainMs: number;
  shutdownTimeoutMs: number;
  /** Idle keep-alive connections are kept this long (longer than a load balancer's reuse of them). */
  keepAliveTimeoutMs: number;
  /** Webhook delivery (src/webhooks). */
  webhooks: WebhookConfig;
}

export interface WebhookConfig {
  /** Run the delivery worker in this process (off in tests unless a test starts one). */
  worker: boolean;
  /**
   * 32-byte key (base64 or hex) that encrypts the endpoints' signing secrets at rest (AES-256-GCM). Required in
   * production; elsewhere a key is generated and kept in the database when unset.
   */
  secretKey?: Buffer;
  /** Endpoints may resolve to private, link-local, unique-local or other non-public addresses. */
  allowPrivateNetworks: boolean;
  /** Endpoints may resolve to loopback (localhost), over plain http too. Default: on outside production. */
  allowLoopback: boolean;
  /** Plain http to any allowed host (otherwise only https, and http to loopback). */
  allowHttp: boolean;
  /** How often the worker looks for events to deliver when idle. */
  pollMs: number;
  /** A receiver must answer within this time. */
  timeoutMs: number;
  /** How long a server owns an endpoint's queue before another may take it over (longer than `timeoutMs`). */
  leaseMs: number;
  /** The first retry waits about this long, doubling with each failure (with jitter) up to `retryMaxMs`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Attempts per event before it is marked failed (it can still be redelivered by hand). */
  maxAttempts: number;
  /** Consecutive failed attempts after which the endpoint shows as failing. */
  failingAfter: number;
  /** Delivered and failed events are removed from the delivery log after this long. */
  logRetentionMs: number;
}

export interface ThrottleConfig {
  /** Consecutive failures an account may have before each further guess must wait. */
  accountFailures: number;
  /** Failures from one client address (IPv4, or an IPv6 /64) before each further guess must wait. */
  addressFailures: number;
  /** The first wait; it doubles with every further failure… */
  baseDelayMs: number;
  /** …up to this. */
  maxDelayMs: number;
  /** An account's failures are forgotten after this long without one (and at a successful sign-in). */
  accountMemoryMs: number;
  /** An address's failures are forgotten after this long without one (never at a sign-in: spraying). */
  addressMemoryMs: number;
}

function int(value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`Expected a number, got "${value}"`);
  return n;
}

function key32(value: string | undefined): Buffer | undefined {
  if (!value) return undefined;
  const key = /^[0-9a-f]{64}$/i.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
  if (key.length !== 32) throw new Error('GATEHOUSE_WEBHOOKS_SECRET_KEY must be 32 bytes, in base64 or hex (e.g. `openssl rand -base64 32`)');
  return key;
}

function bool(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  return ['1', 'true', 'yes', 'on'].includes(value.toLowerCase());
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const mode = (env.NODE_ENV === 'production' || env.NODE_ENV === 'test' ? env.NODE_ENV : 'development') as Config['env'];
  const host = env.HOST || '127.0.0.1';
  const port = int(env.PORT, 3000);
  const config: Config = {
    env: mode,
    databaseUrl: env.DATABASE_URL || undefined,
    sqliteFile: env.GATEHOUSE_SQLITE_FILE || path.resolve('data', 'gatehouse.sqlite'),
    host,
    port,
    baseUrl: env.GATEHOUSE_BASE_URL || `http://${host === '0.0.0.0' ? 'localhost' : host}:${port}`,
    sessionSecret: env.GATEHOUSE_SESSION_SECRET || undefined,
    sessionMaxAgeMs: int(env.GATEHOUSE_SESSION_HOURS, 12) * 3600_000,
    sessionAbsoluteMs: int(env.GATEHOUSE_SESSION_MAX_DAYS, 7) * 86400_000,
    reauthMs: int(env.GATEHOUSE_REAUTH_MINUTES, 10) * 60_000,
    cookieSecure: bool(env.GATEHOUSE_COOKIE_SECURE, false),
    trustProxy: bool(env.GATEHOUSE_TRUST_PROXY, false),
    scryptN: int(env.GATEHOUSE_SCRYPT_N, 2 ** 17),
    throttle: {
      accountFailures: int(env.GATEHOUSE_THROTTLE_ACCOUNT_FAILURES, 5),
      addressFailures: int(env.GATEHOUSE_THROTTLE_ADDRESS_FAILURES, 30),
      baseDelayMs: int(env.GATEHOUSE_THROTTLE_DELAY_SECONDS, 30) * 1000,
      maxDelayMs: int(env.GATEHOUSE_THROTTLE_MAX_DELAY_MINUTES, 15) * 60_000,
      accountMemoryMs: 12 * 3600_000,
      addressMemoryMs: 3600_000,
    },
    smtpUrl: env.GATEHOUSE_SMTP_URL || undefined,
    mailFrom: env.GATEHOUSE_MAIL_FROM || 'Gatehouse <gatehouse@localhost>',
    cacheTemplates: mode === 'production',
    apiRateLimitPerMinute: int(env.GATEHOUSE_API_RATE_LIMIT, 600),
    logLevel: env.GATEHOUSE_LOG_LEVEL || (mode === 'test' ? 'silent' : 'info'),
    opsAccess: {
      allowedCidrs: (env.GATEHOUSE_OPS_ALLOWED_CIDRS || '').split(',').map((c) => c.trim()).filter(Boolean),
      token: env.GATEHOUSE_OPS_TOKEN || undefined,
    },
    dbPoolMax: int(env.GATEHOUSE_DB_POOL_MAX, 10),
    dbAcquireTimeoutMs: int(env.GATEHOUSE_DB_ACQUIRE_TIMEOUT_SECONDS, 10) * 1000,
    shutdownDrainMs: int(env.GATEHOUSE_SHUTDOWN_DRAIN_SECONDS, 0) * 1000,
    shutdownTimeoutMs: int(env.GATEHOUSE_SHUTDOWN_TIMEOUT_SECONDS, 20) * 1000,
    keepAliveTimeoutMs: int(env.GATEHOUSE_KEEP_ALIVE_SECONDS, 65) * 1000,
    webhooks: {
      worker: bool(env.GATEHOUSE_WEBHOOKS_WORKER, mode !== 'test'),
      secretKey: key32(env.GATEHOUSE_WEBHOOKS_SECRET_KEY),
      allowPrivateNetworks: bool(env.GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS, false),
      allowLoopback: bool(env.GATEHOUSE_WEBHOOKS_ALLOW_LOOPBACK, mode !== 'production'),
      allowHttp: bool(env.GATEHOUSE_WEBHOOKS_ALLOW_HTTP, false),
      pollMs: int(env.GATEHOUSE_WEBHOOKS_POLL_SECONDS, 1) * 1000,
      timeoutMs: int(env.GATEHOUSE_WEBHOOKS_TIMEOUT_SECONDS, 10) * 1000,
      leaseMs: int(env.GATEHOUSE_WEBHOOKS_LEASE_SECONDS, 60) * 1000,
      retryBaseMs: int(env.GATEHOUSE_WEBHOOKS_RETRY_BASE_SECONDS, 5) * 1000,
      retryMaxMs: int(env.GATEHOUSE_WEBHOOKS_RETRY_MAX_SECONDS, 3600) * 1000,
      maxAttempts: int(env.GATEHOUSE_WEBHOOKS_MAX_ATTEMPTS, 12),
      failingAfter: int(env.GATEHOUSE_WEBHOOKS_FAILING_AFTER, 5),
      logRetentionMs: int(env.GATEHOUSE_WEBHOOKS_LOG_DAYS, 30) * 86400_000,
    },
    ...overrides,
  };
  if (!Number.isInteger(Math.log2(config.scryptN))) throw new Error('GATEHOUSE_SCRYPT_N must be a power of two');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(config.logLevel)) throw new Error('GATEHOUSE_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent');
  if (config.opsAccess.token !== undefined && config.opsAccess.token.length < 16) throw new Error('GATEHOUSE_OPS_TOKEN must be at least 16 characters');
  if (config.dbPoolMax < 1) throw new Error('GATEHOUSE_DB_POOL_MAX must be at least 1');
  if (config.webhooks.leaseMs <= config.webhooks.timeoutMs) throw new Error('GATEHOUSE_WEBHOOKS_LEASE_SECONDS must be longer than GATEHOUSE_WEBHOOKS_TIMEOUT_SECONDS');
  if (config.webhooks.maxAttempts < 1 || config.webhooks.failingAfter < 1) throw new Error('GATEHOUSE_WEBHOOKS_MAX_ATTEMPTS and GATEHOUSE_WEBHOOKS_FAILING_AFTER must be at least 1');
  if (!('sso' in overrides)) config.sso = parseSsoConfig(env, config.baseUrl);
  return config;
}
