import type { Redis } from 'ioredis';
import type { FeatureRegistry } from '../features/index.ts';
import type { UserStateRead } from './store-model.ts';
import { userStateKey, watermarkKey } from './redis-layout.ts';
import { explainState, type StateExplanation } from './state-explanation.ts';
import { encodeAsOfMs, functionNames, READ_KEYS } from './store-protocol.ts';

export interface ExplainRequest {
  userId: string;
  /** Default: the Redis server's clock (the read function's default). */
  asOfMs?: number;
  /** Only these features (names); default: all. */
  features?: readonly string[];
}

/**
 * Reads what {@link explainState} needs in one MULTI on the user's slot: the state hash
 * (HGETALL) and the read function's answer, so both see the same state; then the partition
 * watermarks. `prefix` is the keyspace of the version explained (redis-layout.ts: the base
 * prefix today, `versionPrefix(prefix, version)` under versioned keyspaces) and `version` its name.
 */
export async function explainUser(redis: Redis, registry: FeatureRegistry, prefix: string, request: ExplainRequest, version: string = registry.version): Promise<StateExplanation> {
  const key = userStateKey(prefix, request.userId);
  const readArgs = request.asOfMs === undefined ? [] : [encodeAsOfMs(request.asOfMs)];
  const results = (await redis
    .multi()
    .hgetall(key)
    .call('FCALL_RO', functionNames(registry.version).read, READ_KEYS.length, key, ...readArgs)
    .exec()) as Array<[Error | null, unknown]> | null;
  if (results === null) throw new Error('explain: the transaction was aborted');
  for (const [error] of results) if (error) throw error;
  const fields = results[0]?.[1] as Record<string, string>;
  const served = JSON.parse(String(results[1]?.[1])) as UserStateRead;
  const raw = await redis.hgetall(watermarkKey(prefix));
  const watermarks = new Map(Object.entries(raw).map(([field, value]) => [field, Number(value)]));
  const wanted = request.features === undefined ? registry.features : registry.features.filter((f) => request.features?.includes(f.name));
  return explainState({ userId: request.userId, registryVersion: registry.version, version, features: wanted, fields, served, watermarks });
}
