import { loadConfig } from '../config';
import { createDb } from '../db/connect';
import { migrateLatest, migrateRollback } from '../db/migrate';
import { parseArgs, run } from './args';

/** npm run migrate | npm run migrate:rollback [-- --all] */
run(async () => {
  const direction = process.argv[2];
  const args = parseArgs(process.argv.slice(3));
  const db = createDb(loadConfig());
  try {
    if (direction === 'rollback') {
      const undone = await migrateRollback(db, args.all === true);
      console.log(undone.length ? `Rolled back: ${undone.join(', ')}` : 'Nothing to roll back.');
    } else {
      const applied = await migrateLatest(db);
      console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'Already up to date.');
    }
  } finally {
    await db.destroy();
  }
});
