import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT_DIR } from '../src/paths';

/**
 * npm run bench: runs every `bench:*` script of package.json in turn, with the same environment
 * (set DATABASE_URL to measure on MySQL/MariaDB). Each writes its figures to bench/results/.
 */
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT_DIR, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
const names = Object.keys(pkg.scripts).filter((n) => n.startsWith('bench:'));
let failed = 0;
for (const name of names) {
  console.log(`\n=== npm run ${name} ===`);
  const r = spawnSync('npm', ['run', '--silent', name], { stdio: 'inherit', cwd: ROOT_DIR, env: process.env });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
