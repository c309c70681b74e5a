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
    // parallel and in a random order (the seed is printed). Tests within a file keep their order until every
    // file's tests make what they use (see the files that already do: `--sequence.shuffle.tests` passes there).
    fileParallelism: true,
    maxWorkers: 2,
    sequence: { shuffle: { files: true, tests: false } },
    reporters: ['default'],
  },
});
