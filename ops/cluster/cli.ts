/**
 * npm run cluster:up | cluster:down [-- --purge] | cluster:status
 * A three-node MariaDB Galera cluster, HAProxy and two or three Gatehouse servers on this machine (see the
 * README, "Running more than one server").
 *   tsx ops/cluster/cli.ts packages — only installs the Debian packages the cluster needs (CI does it early, in
 *   the background, while the test suites run).
 */
import { layoutFromEnv } from './layout';
import { describe, down, up } from './cluster';
import { ensurePackages } from './packages';

const log = (line: string) => console.log(line);

async function main(): Promise<void> {
  const [command, ...rest] = process.argv.slice(2);
  const layout = layoutFromEnv();
  if (command === 'up') {
    await up(layout, log);
    console.log('');
    console.log(await describe(layout));
  } else if (command === 'down') {
    await down(layout, log, { purge: rest.includes('--purge') });
    console.log(`The Gatehouse cluster in ${layout.dir} is stopped.${rest.includes('--purge') ? '' : ' Its data is kept: npm run cluster:up starts it again.'}`);
  } else if (command === 'packages') {
    ensurePackages(log);
  } else if (command === 'status') {
    console.log(await describe(layout));
  } else {
    console.error('Usage: tsx ops/cluster/cli.ts up | down [--purge] | status | packages');
    process.exit(2);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
