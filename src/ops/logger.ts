/**
 * Structured JSON logs (pino), one line per event. What is logged is chosen field by field: the request id,
 * method, route pattern, path (never the query string), status, duration and the acting user's id; never
 * request or response bodies, headers, cookies, tokens, SQL or its parameters (database errors go through
 * redactedDatabaseError first).
 */
import pino, { type Logger } from 'pino';
import type { Config } from '../config';

export type { Logger };

export function createLogger(config: Pick<Config, 'env' | 'logLevel'>): Logger {
  return pino({
    level: config.logLevel,
    base: { service: 'gatehouse', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
