import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    globalSetup: ['test/support/globalSetup.ts'],
    sequence: { shuffle: { files: true, tests: false } },
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One Chromium at a time keeps a 2-core machine responsive.
    fileParallelism: false,
    // Files share the worker's loaded modules, as in vitest.config.ts.
    isolate: false,
    reporters: ['default'],
  },
});
