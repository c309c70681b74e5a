import { loadConfig } from '../config';
import { createDb } from '../db/connect';
import { prepareDatabase } from '../setup/bootstrap';
import { seedDemo } from '../../seeds/demo';
import { parseArgs, run } from './args';

/** npm run seed:demo -- --users N [--password P]: a realistic organisation for trying Gatehouse at scale. */
run(async () => {
  const args = parseArgs();
  const users = Number(args.users ?? 1000);
  if (!Number.isInteger(users) || users < 1 || users > 1_000_000) throw new Error('--users must be a whole number from 1 to 1,000,000');
  const password = typeof args.password === 'string' ? args.password : 'demo-password-2026';
  const config = loadConfig();
  const db = createDb(config);
  try {
    await prepareDatabase(db);
    const started = Date.now();
    // Demo accounts share one password hash; a lower cost keeps seeding fast and is fine for demo data.
    const counts = await seedDemo(db, { users, scryptN: 2 ** 14, password, log: (l) => console.log(l) });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`Done in ${seconds} s: ${Object.entries(counts).map(([k, v]) => `${v.toLocaleString('en-US')} ${k}`).join(', ')}.`);
    console.log(`Demo users sign in with the password "${password}".`);
  } finally {
    await db.destroy();
  }
});
