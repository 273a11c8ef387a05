import { defineConfig } from 'vitest/config';

// The clusters of scripts/stack/ha.sh (its port bases, the same defaults as scripts/stack/env.sh).
const haKafkaBase = Number(process.env.CHURNFEAT_HA_KAFKA_BASE_PORT ?? 19100);
const haRedisBase = Number(process.env.CHURNFEAT_HA_REDIS_BASE_PORT ?? 16380);
// Integration test files run side by side, this many at a time (1: one after the other).
const integrationWorkers = Number(process.env.CHURNFEAT_TEST_WORKERS ?? 2);

/**
 * Four groups a developer can run alone:
 *   npx vitest run --project unit          pure code, no services, seconds
 *   npx vitest run --project integration   real Kafka, Redis, DuckDB, dbt (stack must be up: make up)
 *   npx vitest run --project ha            fault tests on a 3-broker Kafka, Redis Sentinel and Redis
 *                                          Cluster (its global setup starts them once: make test-ha)
 *   npx vitest run --project ha-cluster    the correctness tests with the Redis Cluster of ha.sh as their
 *                                          Redis (make test-ha runs it after the ha project)
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          globalSetup: ['test/node-version.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          env: { CHURNFEAT_LOG_LEVEL: process.env.CHURNFEAT_LOG_LEVEL ?? 'fatal' },
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // Two files at a time (CHURNFEAT_TEST_WORKERS): each test has its own topics, groups, key
          // prefix, DuckDB file and dbt target folder, and the ones that restart or flush Redis start
          // a private redis-server; most of a file's time is waiting on Kafka, dbt and child processes.
          maxWorkers: integrationWorkers,
        },
      },
      {
        test: {
          name: 'ha',
          env: {
            CHURNFEAT_LOG_LEVEL: process.env.CHURNFEAT_LOG_LEVEL ?? 'fatal',
            // the helpers' BROKERS: the 3-broker cluster; Redis stays the stack's (CHURNFEAT_REDIS_URL)
            CHURNFEAT_KAFKA_BROKERS: [1, 2, 3].map((i) => `127.0.0.1:${haKafkaBase + i}`).join(','),
            CHURNFEAT_HA_KAFKA_BASE_PORT: String(haKafkaBase),
            CHURNFEAT_HA_REDIS_BASE_PORT: String(haRedisBase),
          },
          include: ['test/ha/**/*.test.ts'],
          globalSetup: ['test/ha/global-setup.ts'],
          testTimeout: 240_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          // the correctness and lifecycle tests again, their Redis the 3-master Cluster of ha.sh (test/helpers/stack.ts REDIS_CLUSTER)
          name: 'ha-cluster',
          env: {
            CHURNFEAT_LOG_LEVEL: process.env.CHURNFEAT_LOG_LEVEL ?? 'fatal',
            CHURNFEAT_KAFKA_BROKERS: [1, 2, 3].map((i) => `127.0.0.1:${haKafkaBase + i}`).join(','),
            CHURNFEAT_REDIS_URL: `redis://127.0.0.1:${haRedisBase + 6}`,
            CHURNFEAT_REDIS_CLUSTER: 'true',
            CHURNFEAT_HA_KAFKA_BASE_PORT: String(haKafkaBase),
            CHURNFEAT_HA_REDIS_BASE_PORT: String(haRedisBase),
          },
          include: [
            'test/integration/correctness/**/*.test.ts',
            // the lifecycle on the Cluster: cutover (WATCH/MULTI on the {lifecycle} tag), GC (SCAN on every master), the sharded bootstrap
            'test/integration/store/version-lifecycle.test.ts',
            'test/integration/store/version-gc-library.test.ts',
            'test/integration/serving/lifecycle-metrics.test.ts',
            'test/integration/bootstrap/bootstrap-shards.test.ts',
          ],
          globalSetup: ['test/ha/global-setup.ts'],
          testTimeout: 240_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
