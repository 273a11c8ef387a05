/**
 * GC of a retired version removes its Redis Function library (`FUNCTION DELETE
 * churnfeat_<version>`, on every master), but only once no other base prefix runs that version,
 * and never another version's library; a reader still on the collected version gets `Function
 * not found` and answers from the active version.
 */
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { command as versionCommand } from '../../../cli/commands/version.ts';
import { createRedisClient } from '../../../sidecar/src/config/index.ts';
import { loadFeatureRegistry, type FeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { FeatureClient, VersionResolver } from '../../../sidecar/src/serving/index.ts';
import {
  functionNames,
  isLibraryLoaded,
  loadFunctionLibrary,
  readAudit,
  readyMasters,
  readCatalog,
  recordParity,
  registerVersion,
  userStateKey,
  versionPrefix,
} from '../../../sidecar/src/store/index.ts';
import { redisCliArgs } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/consumers.ts';
import { deleteRedisKeys, testRedis } from '../../helpers/redis.ts';
import { compileFixtureV2, FIXTURE_REGISTRY_DIR } from '../../helpers/registry.ts';
import { REDIS_CLUSTER, REDIS_URL, testNamespace } from '../../helpers/stack.ts';

function version(prefix: string, ...argv: string[]): Promise<number> {
  return versionCommand.run([...argv, ...redisCliArgs(), '--key-prefix', prefix, '--actor', 'gc-library-test', '--gc-pause-ms', '0', '--gc-idle-ms', '0']);
}

/** v1 and v2 registered under `prefix` as their sidecars would (library, marker, record: v1 the first, so active), a little state in each. */
async function registerBoth(redis: Redis, prefix: string, v1: FeatureRegistry, v2: FeatureRegistry): Promise<void> {
  for (const registry of [v1, v2]) {
    await loadFunctionLibrary(redis, registry, prefix);
    await registerVersion(redis, prefix, registry, 'gc-library-test');
    await redis.hset(userStateKey(versionPrefix(prefix, registry.version), 'u-1'), 'v', '3');
  }
}

/** v2 passes parity and is cut over to, v1 is retired. */
async function retireV1(redis: Redis, prefix: string, v1: FeatureRegistry, v2: FeatureRegistry): Promise<void> {
  await recordParity(redis, prefix, v2.version, { passed: true, mismatches: 0, sampleSize: 1, asOf: new Date().toISOString(), at: new Date().toISOString() }, 'gc-library-test');
  expect(await version(prefix, 'cutover', v2.version)).toBe(0);
  expect(await version(prefix, 'retire', v1.version)).toBe(0);
}

describe('version gc and the Redis Function library', () => {
  it("keeps a collected version's library while another prefix runs the version, deletes it with the last one, never touches the active version's, and a reader still on it moves to the active version", async () => {
    const v1 = loadFeatureRegistry(FIXTURE_REGISTRY_DIR);
    const v2 = compileFixtureV2(tempDir('churnfeat-gc-library-'));
    const first = testNamespace().options.keyPrefix;
    const second = testNamespace().options.keyPrefix;
    onTestFinished(() => deleteRedisKeys(REDIS_URL, first, second));
    const redis = testRedis();
    await registerBoth(redis, first, v1, v2);
    // a reader that resolved v1 before the cutover and keeps that resolution (a pod with a long alias cache)
    const resolver = new VersionResolver(redis, first, v1, { aliasCacheMs: 600_000 });
    onTestFinished(() => resolver.stop());
    const client = new FeatureClient({ registry: v1, versions: resolver });
    expect((await client.get('u-1')).version).toBe(v1.version);
    await retireV1(redis, first, v1, v2);
    // the second prefix still runs v1 (its marker names it): the first GC keeps the library
    await registerBoth(redis, second, v1, v2);
    expect(await version(first, 'gc', v1.version)).toBe(0);
    expect(await isLibraryLoaded(redis, v1.version)).toBe(true);
    expect((await readAudit(redis, first)).at(-1)?.detail).toContain(`kept: base prefix(es) ${second} still run the version`);
    expect((await readCatalog(redis, first)).get(v1.version)?.state).toBe('collected');

    expect((await client.get('u-1')).version).toBe(v1.version);

    // the second prefix moves on and collects v1 too: the last user deletes the library
    await retireV1(redis, second, v1, v2);
    expect(await version(second, 'gc', v1.version, '--dry-run')).toBe(0);
    expect(await isLibraryLoaded(redis, v1.version)).toBe(true);
    expect(await version(second, 'gc', v1.version)).toBe(0);
    expect(await isLibraryLoaded(redis, v1.version)).toBe(false);
    expect(await isLibraryLoaded(redis, v2.version)).toBe(true);
    expect((await readAudit(redis, second)).at(-1)?.detail).toContain(`function library ${functionNames(v1.version).library} deleted on`);
    await expect(redis.call('FCALL_RO', functionNames(v1.version).read, 1, userStateKey(versionPrefix(first, v1.version), 'u-1'))).rejects.toThrow(/function not found/i);

    // the reader's cached v1 is gone: it resolves the alias again and answers from v2
    const answer = await client.get('u-1');
    expect(answer.version).toBe(v2.version);
  });

  it('loads a library on every master from a client not connected yet (a Cluster client lists no master before its slot map)', async () => {
    const prefix = testNamespace().options.keyPrefix;
    const registry = { ...loadFeatureRegistry(FIXTURE_REGISTRY_DIR), version: `lazy${prefix}` };
    const fresh = createRedisClient({ redisUrl: REDIS_URL, redisCluster: REDIS_CLUSTER }, { lazyConnect: true });
    const redis = testRedis();
    onTestFinished(async () => {
      fresh.disconnect();
      for (const node of await readyMasters(redis)) await node.call('FUNCTION', 'DELETE', functionNames(registry.version).library).catch(() => undefined);
      await deleteRedisKeys(REDIS_URL, prefix);
    });
    await loadFunctionLibrary(fresh, registry, prefix);
    expect(await isLibraryLoaded(redis, registry.version)).toBe(true);
    const masters = await readyMasters(redis);
    expect(masters.length).toBe(REDIS_CLUSTER ? 3 : 1);
    for (const node of masters) expect(await node.call('FUNCTION', 'LIST', 'LIBRARYNAME', functionNames(registry.version).library)).toHaveLength(1);
  });
});
