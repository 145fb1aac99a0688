// The AWS SDK's Node 22 notice is noise here too: quiet in this process (the global setup's local services make SDK
// clients) and in the test workers, which inherit its environment.
import './bin/quiet-sdk-node-warning';
import { defineConfig } from 'vitest/config';

// Four tiers, each runnable alone (`npm run test:unit`, `test:integration`, `test:infra`, `test:e2e`); `npm test`
// runs them all (bin/test.ts: the e2e tier in a vitest process of its own, its outage scenarios beside the other
// tiers and its load tests after them). How many files of a tier run side by side follows what they share:
// - integration files share the run's one database, dynalite, SQS and S3 (global-setup.ts), so they run one at a time;
// - infra files share one synthesis of the app (test/infra/synth.ts): one process for all of them (isolate: false);
// - e2e files each start their own local runtime on their own database (test/support/own-database.ts) and mostly
//   wait (on breakers, visibility timeouts, schedules), so several run at once.
const shared = {
  env: {
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
    // One test process plays many concurrent Lambda environments.
    DB_POOL_MAX: '10',
  },
  testTimeout: 30_000,
  hookTimeout: 60_000,
};

export default defineConfig({
  test: {
    // The sum of the tiers' workers below.
    maxWorkers: 6,
    projects: [
      { test: { ...shared, name: 'unit', include: ['test/unit/**/*.test.ts'], maxWorkers: 1 } },
      {
        test: {
          ...shared,
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          setupFiles: ['test/support/setup.ts'],
          maxWorkers: 1,
        },
      },
      { test: { ...shared, name: 'infra', include: ['test/infra/**/*.test.ts'], isolate: false, maxWorkers: 1 } },
      {
        test: {
          ...shared,
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          setupFiles: ['test/support/setup.ts'],
          maxWorkers: 3,
          // After the other tiers when one `vitest run` runs them all.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
