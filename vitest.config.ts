import { defineConfig } from 'vitest/config';

/**
 * Integration files that run a second time against a Redis Cluster (the
 * cluster pass: `--project cluster` with REDIS_CLUSTER_NODES set). A file
 * joins once its Redis access goes through testRedisClient()/testEnv().
 */
const CLUSTER_READY: string[] = [
  'test/integration/reader-roundtrip.test.ts',
  'test/integration/worker-checkpoint-crash.test.ts',
  'test/integration/reader-cache.test.ts',
  'test/integration/reader-deadline.test.ts',
  'test/integration/worker-exactness.test.ts',
  'test/integration/features-mixed.test.ts',
  'test/integration/worker-fence.test.ts',
  'test/integration/worker-crash.test.ts',
  'test/integration/worker-rebalance.test.ts',
  'test/integration/worker-lapse.test.ts',
  'test/integration/worker-dlq.test.ts',
  'test/integration/worker-kafka-restart.test.ts',
  'test/integration/worker-versions.test.ts',
  'test/integration/worker-quarantine.test.ts',
  'test/integration/sync-basic.test.ts',
  'test/integration/sync-e2e.test.ts',
  'test/integration/sync-outage.test.ts',
  'test/integration/server-http.test.ts',
  'test/integration/server-feast-shape.test.ts',
  'test/integration/demo-core.test.ts',
  'test/integration/sync-rewarm.test.ts',
  'test/integration/backfill-switch.test.ts',
  'test/integration/backfill-resume.test.ts',
  'test/integration/recovery-cache.test.ts',
  'test/integration/recovery-suspects.test.ts',
  'test/integration/cli-get.test.ts',
  'test/integration/layout-switch.test.ts',
  'test/integration/reader-script.test.ts',
  'test/integration/worker-unchanged-ttl.test.ts',
  'test/integration/backfill-beside-live.test.ts',
];

const integration = {
  environment: 'node' as const,
  globalSetup: ['test/integration/global-setup.ts'],
  setupFiles: ['test/integration/setup.ts'],
  testTimeout: 120_000,
  hookTimeout: 120_000,
  // Integration files share three real servers on a 2-core machine; run them one at a time.
  fileParallelism: false,
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // A hang guard, not a speed check: property tests take seconds on a loaded 2-core machine.
          testTimeout: 60_000,
        },
      },
      {
        test: { name: 'integration', include: ['test/integration/**/*.test.ts'], ...integration },
      },
      {
        test: { name: 'cluster', include: CLUSTER_READY, ...integration },
      },
    ],
  },
});
