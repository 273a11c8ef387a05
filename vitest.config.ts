import { defineConfig } from 'vitest/config';

/**
 * Two groups a developer can run alone:
 *   npx vitest run --project unit          pure code, no services, seconds
 *   npx vitest run --project integration   real Kafka, Redis, DuckDB, dbt (stack must be up: make up)
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
          fileParallelism: false,
        },
      },
    ],
  },
});
