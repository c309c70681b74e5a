import { loadConfig } from './config';
import { createDb } from './db/connect';
import { createApp } from './app';
import { ensureFirstSuperuser, prepareDatabase } from './setup/bootstrap';
import { getIndex } from './access/service';

/** The only place that listens. Migrates and seeds first, so `npm start` is all a fresh machine needs. */
async function main() {
  const config = loadConfig();
  const db = createDb(config);
  const applied = await prepareDatabase(db);
  if (applied.length) console.log(`Applied migrations: ${applied.join(', ')}`);
  const first = await ensureFirstSuperuser(db, config);
  const { app } = await createApp(config, { db });
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
    // Build the decision index now rather than in the first check that needs it.
    getIndex(db).catch((err) => console.error('Could not build the access index:', err));
  });
  const stop = () => {
    server.close(() => void db.destroy().then(() => process.exit(0)));
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
