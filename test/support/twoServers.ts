import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createApp, type GatehouseApp } from '../../src/app';
import { createDb, type Db } from '../../src/db/connect';
import { createTestApp, type TestApp } from './app';

/**
 * Two servers on one database (a SQLite file, or the MariaDB database of the run): A is a test app, B has
 * its own connection pool and its own decision state, like a second process, started after `beforeB`.
 */
export async function twoServers(name: string, beforeB: (a: TestApp) => Promise<void> = async () => undefined): Promise<{ a: TestApp; b: GatehouseApp; bDb: Db; close(): Promise<void> }> {
  const sqliteFile = process.env.DATABASE_URL ? undefined : path.join(os.tmpdir(), `gatehouse-${name}-${randomBytes(4).toString('hex')}.sqlite`);
  const a = await createTestApp(sqliteFile ? { sqliteFile } : {});
  // What B should find when it loads its state (and not learn by following the log).
  await beforeB(a);
  const bDb = createDb(a.config);
  const b = await createApp(a.config, { db: bDb });
  return {
    a,
    b,
    bDb,
    async close() {
      await b.close();
      await bDb.destroy();
      await a.close();
      if (sqliteFile) for (const f of [sqliteFile, `${sqliteFile}-wal`, `${sqliteFile}-shm`]) fs.rmSync(f, { force: true });
    },
  };
}
