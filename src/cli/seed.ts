import { loadConfig } from '../config';
import { createDb } from '../db/connect';
import { seedBase } from '../../seeds/base';
import { run } from './args';

/** npm run seed — reference data (permissions, built-in roles, licenses and caps, domains, root workspace). Idempotent. */
run(async () => {
  const db = createDb(loadConfig());
  try {
    await seedBase(db);
    console.log('Seed data is in place.');
  } finally {
    await db.destroy();
  }
});
