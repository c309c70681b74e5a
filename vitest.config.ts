import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/http/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Each file gets its own database (in-memory SQLite, or a fresh MariaDB schema), so files run in parallel.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
