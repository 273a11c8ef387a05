import type { Redis } from 'ioredis';
import type { FeatureRegistry } from '../features/index.ts';
import { userHeadKey, userStateKey, versionPrefix, watermarkKey } from './redis-layout.ts';
import { replyDecoder, type UserStateRead } from './store-model.ts';
import { encodeAsOfMs, FIELDS_KEYS, functionNames } from './store-protocol.ts';

/**
 * Reads feature values of one registry version from the store: one FCALL_RO per user
 * (pipelined for batches) returns the read head or the raw fields of one snapshot of the user's keys; the answer
 * is built here with the model. `prefix` is the base key prefix; the keys read are the
 * version's keyspace (`versionPrefix(prefix, registry.version)`). To follow the alias, see
 * serving/version-resolver.ts.
 */
export class FeatureReader {
  private readonly readFn: string;
  /** Builds a read's answer from a reply of the read function. */
  readonly decode: (reply: unknown) => UserStateRead;
  /** `versionPrefix(prefix, registry.version)`. */
  readonly keyspace: string;

  constructor(
    private readonly redis: Redis,
    readonly registry: FeatureRegistry,
    prefix: string,
  ) {
    this.readFn = functionNames(registry.version).fields;
    this.decode = replyDecoder(registry.features);
    this.keyspace = versionPrefix(prefix, registry.version);
  }

  /** Reads many users in one round trip; `asOfMs` defaults to the Redis server's clock. */
  async readMany(userIds: readonly string[], asOfMs?: number): Promise<UserStateRead[]> {
    const asOf = asOfMs === undefined ? undefined : encodeAsOfMs(asOfMs);
    const pipeline = this.redis.pipeline();
    for (const userId of userIds) {
      const keys = [userStateKey(this.keyspace, userId), userHeadKey(this.keyspace, userId)];
      if (asOf === undefined) pipeline.call('FCALL_RO', this.readFn, FIELDS_KEYS.length, ...keys);
      else pipeline.call('FCALL_RO', this.readFn, FIELDS_KEYS.length, ...keys, asOf);
    }
    const results = (await pipeline.exec()) ?? [];
    return results.map(([error, reply]) => {
      if (error) throw error;
      return this.decode(reply);
    });
  }

  async read(userId: string, asOfMs?: number): Promise<UserStateRead> {
    const [result] = await this.readMany([userId], asOfMs);
    return result as UserStateRead;
  }

  /** Partition watermarks published by the sidecar: "<source>:<partition>" -> ms. */
  async watermarks(): Promise<Map<string, number>> {
    const raw = await this.redis.hgetall(watermarkKey(this.keyspace));
    return new Map(Object.entries(raw).map(([field, value]) => [field, Number(value)]));
  }
}
