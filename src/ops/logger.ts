/**
 * Structured JSON logs (pino), one line per event. What is logged is chosen field by field: the request id,
 * method, route pattern, path (never the query string), status, duration and the acting user's id; never
 * request or response bodies, headers, cookies, tokens, SQL or its parameters (database errors go through
 * redactedDatabaseError first).
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import type { Config } from '../config';

export type { Logger };
/** Where log lines go (standard output unless given: tests capture them). */
export type LogDestination = DestinationStream;

export function createLogger(config: Pick<Config, 'env' | 'logLevel'>, destination?: LogDestination): Logger {
  const options = {
    level: config.logLevel,
    base: { service: 'gatehouse', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  // Standard output is written asynchronously: a line per request must not cost a blocking write each
  // (lines written while one write is under way go out together). pino flushes what is left on exit.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}
