/**
 * schemathesis (the tools venv) against the /openapi.json of a real `churnfeat serve` child
 * process on the local Redis, with the read function loaded and fresh watermarks, so every
 * answer it sees must match the document: statuses, content types, schemas, headers, 405s.
 */
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { FeatureWriter, loadFunctionLibrary } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { churnfeatArgs } from '../../helpers/cli.ts';
import { deleteRedisKeys, testRedis } from '../../helpers/redis.ts';
import { REDIS_URL, testNamespace } from '../../helpers/stack.ts';
import { freePort } from '../../helpers/stack-services.ts';
import { waitFor } from '../../helpers/wait.ts';

const registry = loadFeatureRegistry('dbt_project');

describe('the serving API under schemathesis', () => {
  it('passes every schemathesis check on 50 examples per operation', async () => {
    const prefix = testNamespace().options.keyPrefix;
    onTestFinished(() => deleteRedisKeys(REDIS_URL, prefix));
    const redis = testRedis();
    await loadFunctionLibrary(redis, registry, prefix);
    const writer = new FeatureWriter(redis, new WindowOperators(registry), { prefix, allowedLatenessMs: 86_400_000, dedupMarginMs: 3_600_000, pruneAboveFields: 256 });
    await writer.writeWatermarks(SOURCES.map((source) => ({ source, partition: 0, watermarkMs: Date.now() })));

    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const serve = execa(process.execPath, churnfeatArgs('serve'), {
      env: { CHURNFEAT_REDIS_URL: REDIS_URL, CHURNFEAT_KEY_PREFIX: prefix, CHURNFEAT_SERVE_PORT: String(port), CHURNFEAT_LOG_LEVEL: 'error' },
      reject: false,
      all: true,
    });
    onTestFinished(async () => {
      serve.kill('SIGTERM');
      await serve;
    });
    await waitFor('serve answers /healthz', async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok, { timeoutMs: 30_000 });

    const run = await execa(
      '.venv/tools/bin/schemathesis',
      [
        '--no-color',
        'run',
        `${url}/openapi.json`,
        '--max-examples',
        '50',
        '--seed',
        String(process.env.CHURNFEAT_PROPERTY_SEED ?? 20261201),
        '--request-timeout',
        '5',
        '--generation-database',
        'none',
      ],
      { reject: false, all: true, timeout: 240_000, env: { SCHEMATHESIS_HOOKS: '' } },
    );
    expect(run.exitCode, run.all).toBe(0);
    expect(run.all).toMatch(/No issues found|passed/);
  }, 300_000);
});
