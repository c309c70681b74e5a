import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/http/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    // Migrates and seeds MariaDB once; each file then copies that database (test/support/db.ts).
    globalSetup: ['test/support/globalSetup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Each file gets its own database (in-memory SQLite, or a copy of the template on MariaDB), so files run in
    // parallel; files and the tests within each file run in a random order (the seed is printed; repeat an
    // order with `--sequence.seed=N`). Every test makes what it uses (test/support/factories.ts).
    fileParallelism: true,
    // Files share each worker's loaded modules instead of importing the app afresh per file (about 1 s of
    // import each: the SQLite suite took 106 s isolated, 60 s shared). Nothing module-level carries test
    // state: every cache is keyed by its database handle, and each file makes its own.
    isolate: false,
    maxWorkers: 2,
    sequence: { shuffle: { files: true, tests: true } },
    reporters: ['default'],
  },
});
