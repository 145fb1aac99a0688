import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/setup.ts'],
    env: {
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      // One test process plays many concurrent Lambda environments.
      DB_POOL_MAX: '10',
    },
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
