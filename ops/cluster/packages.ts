/** Installs the Debian packages the cluster needs when they are missing (apt-get, as the machine's root). */
import fs from 'node:fs';
import { run } from './proc';

const NEEDED: Array<{ pkg: string; file: string }> = [
  { pkg: 'mariadb-server', file: '/usr/sbin/mariadbd' },
  { pkg: 'mariadb-client', file: '/usr/bin/mariadb' },
  { pkg: 'galera-4', file: '/usr/lib/galera/libgalera_smm.so' },
  { pkg: 'haproxy', file: '/usr/sbin/haproxy' },
  // The rsync snapshot transfer (a node that rejoins too late for an incremental one).
  { pkg: 'rsync', file: '/usr/bin/rsync' },
  { pkg: 'iproute2', file: '/usr/bin/ss' },
];

export function ensurePackages(log: (line: string) => void): void {
  const missing = NEEDED.filter((n) => !fs.existsSync(n.file)).map((n) => n.pkg);
  if (!missing.length) return;
  if (process.getuid?.() !== 0) throw new Error(`Missing Debian packages: ${missing.join(' ')}. Install them (apt-get install ${missing.join(' ')}) or run this as root.`);
  log(`Installing ${missing.join(', ')} with apt-get …`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = run('apt-get', ['update', '-qq'], { env });
  if (update.status !== 0) throw new Error(`apt-get update failed:\n${update.stderr}`);
  const install = run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
  if (install.status !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed:\n${install.stderr.slice(-2000)}`);
  const still = NEEDED.filter((n) => !fs.existsSync(n.file)).map((n) => n.pkg);
  if (still.length) throw new Error(`Still missing after apt-get install: ${still.join(' ')}`);
}
