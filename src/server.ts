import { loadConfig } from './config';
import { createDb } from './db/connect';
import { createApp } from './app';
import { ensureFirstSuperuser, prepareDatabase } from './setup/bootstrap';
import { gracefulShutdown } from './ops/shutdown';
import { isRetryable, isUnavailable, redactedDatabaseError } from './db/errors';

/**
 * Start-up work against the database, tried again for up to a minute while the database is unreachable or
 * busy with conflicting writers (a server restarting during a fail-over), instead of exiting.
 */
async function withStartupRetries<T>(what: string, work: () => Promise<T>): Promise<T> {
  const until = Date.now() + 60_000;
  for (;;) {
    try {
      return await work();
    } catch (e) {
      if (!(isRetryable(e) || isUnavailable(e)) || Date.now() > until) throw e;
      const database = redactedDatabaseError(e);
      console.error(`${what}: the database is unavailable or busy (${database?.code ?? database?.errno ?? 'error'}); trying again in a second`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/** The only place that listens. Migrates and seeds first, so `npm start` is all a fresh machine needs. */
async function main() {
  const config = loadConfig();
  const db = createDb(config);
  const applied = await withStartupRetries('Migrations and reference data', () => prepareDatabase(db));
  if (applied.length) console.log(`Applied migrations: ${applied.join(', ')}`);
  const first = await withStartupRetries('The first superuser', () => ensureFirstSuperuser(db, config));
  const { app, ops, webhooks } = await withStartupRetries('Start-up', () => createApp(config, { db }));
  const server = app.listen(config.port, config.host, () => {
    const where = config.databaseUrl ? config.databaseUrl.replace(/\/\/[^@]*@/, '//***@') : config.sqliteFile;
    console.log(`Gatehouse is running at ${config.baseUrl}  (database: ${where})`);
    if (first) {
      console.log('');
      console.log('  First superuser created — sign in with:');
      console.log(`    username: ${first.username}`);
      console.log(`    password: ${first.password}`);
      console.log('  This password is shown only once. Change it under "My account".');
      console.log('');
    }
  });
  // Keep idle connections longer than a load balancer reuses them, so it never sends on one being closed.
  server.keepAliveTimeout = config.keepAliveTimeoutMs;
  server.headersTimeout = config.keepAliveTimeoutMs + 5_000;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    ops.logger.info({ signal }, 'signal received');
    gracefulShutdown(server, db, ops.lifecycle, ops.logger, { drainMs: config.shutdownDrainMs, timeoutMs: config.shutdownTimeoutMs, beforeDatabaseClose: () => webhooks.stop() }).then(
      () => process.exit(0),
      (err) => {
        ops.logger.error({ err: { message: err instanceof Error ? err.message : String(err) } }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err) => {
  // A database error's message carries its SQL and values: print its code and a redacted message only.
  const database = redactedDatabaseError(err);
  console.error(database ? `Database error ${database.code ?? database.errno}: ${database.message}` : err instanceof Error ? err.message : err);
  process.exit(1);
});
