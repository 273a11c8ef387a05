import type { Redis } from 'ioredis';
import type { FeatureRegistry } from '../features/index.ts';
import { FeatureReader, FIELDS_KEYS, functionNames, userHeadKey, userStateKey, type UserStateRead } from '../store/index.ts';

/** Where raw user state of one version comes from: the Redis read function, or a fake in unit tests. */
export interface StateReader {
  read(userId: string, asOfMs?: number): Promise<UserStateRead>;
  readMany(userIds: readonly string[], asOfMs?: number): Promise<UserStateRead[]>;
}

/**
 * The Redis read path of one registry version: FCALL_RO cf_fields_<version> on the user's
 * state key and read head in the version's keyspace (`versionPrefix(prefix, version)`): the head
 * or the raw fields of one snapshot, the answer built here with the store model; one round trip per user and one slot per call (runs unchanged on Redis Cluster). Batches are pipelined; a single
 * read skips the pipeline object, which is measurably cheaper.
 */
export class RedisStateReader implements StateReader {
  private readonly batch: FeatureReader;
  private readonly readFn: string;
  /** The version's keyspace the keys are read from. */
  readonly keyspace: string;

  constructor(
    private readonly redis: Redis,
    registry: FeatureRegistry,
    prefix: string,
  ) {
    this.batch = new FeatureReader(redis, registry, prefix);
    this.keyspace = this.batch.keyspace;
    this.readFn = functionNames(registry.version).fields;
  }

  async read(userId: string, asOfMs?: number): Promise<UserStateRead> {
    const keys = [userStateKey(this.keyspace, userId), userHeadKey(this.keyspace, userId)];
    const reply =
      asOfMs === undefined ? await this.redis.call('FCALL_RO', this.readFn, FIELDS_KEYS.length, ...keys) : await this.redis.call('FCALL_RO', this.readFn, FIELDS_KEYS.length, ...keys, String(asOfMs));
    return this.batch.decode(reply);
  }

  readMany(userIds: readonly string[], asOfMs?: number): Promise<UserStateRead[]> {
    return this.batch.readMany(userIds, asOfMs);
  }
}
