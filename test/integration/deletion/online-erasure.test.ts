/**
 * Online erasure across versioned keyspaces on the real Redis (docs/deletion.md, "Online"):
 * the user's keys under the base prefix and under every version of the catalog are deleted and
 * checked by name (no SCAN: MONITOR sees none), the tombstone stays under the base prefix, a
 * dedup hash holding an entry from before the deletion is a leftover, and a later run keeps a
 * returning customer's keys.
 */
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DeletionRegistry, eraseOnline, runDeletions, verifyOnline } from '../../../sidecar/src/deletion/index.ts';
import { LocalLakeStorage } from '../../../sidecar/src/lake/index.ts';
import { DEDUP_TILE_S, latestEventField, tombstoneKey, userDedupKey, userStateKey, versionCatalogKey, versionPrefix } from '../../../sidecar/src/store/index.ts';
import { tempDir } from '../../helpers/consumers.ts';
import { deleteRedisKeys, testRedis } from '../../helpers/redis.ts';
import { REDIS_URL, testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const HOUR = 3_600_000;
const HORIZON = 100 * HOUR;

/** A packed dedup bucket of one entry (8-byte member, 2-byte stamp) for an event at `eventMs`. */
function dedupEntry(eventMs: number): Buffer {
  const entry = Buffer.alloc(10, 7);
  entry.writeUInt16BE(Math.floor(eventMs / 1000 / DEDUP_TILE_S) % 65_536, 8);
  return entry;
}

/** Writes a user's state hash and client dedup hash under `keyspace`, from an event at `eventMs`. */
async function writeUser(redis: Redis, keyspace: string, user: string, eventMs: number): Promise<void> {
  await redis.hset(userStateKey(keyspace, user), latestEventField('sessions_7d'), String(eventMs));
  await redis.hset(userDedupKey(keyspace, user, 'client'), '7', dedupEntry(eventMs));
}

/** The commands Redis executed while `work` ran (MONITOR on a connection of its own). */
async function commandsDuring(work: () => Promise<void>): Promise<string[]> {
  const monitorClient = new Redis(REDIS_URL);
  onTestFinished(() => monitorClient.disconnect());
  const monitor = await monitorClient.monitor();
  const seen: string[] = [];
  monitor.on('monitor', (_time: string, args: string[]) => seen.push(String(args[0]).toLowerCase()));
  const marker = new Redis(REDIS_URL);
  onTestFinished(() => marker.disconnect());
  await marker.ping('monitor-start');
  await waitFor('MONITOR sees the start marker', async () => seen.includes('ping'), { timeoutMs: 10_000 });
  await work();
  await marker.echo('monitor-end');
  await waitFor('MONITOR sees the end marker', async () => seen.includes('echo'), { timeoutMs: 10_000 });
  monitor.disconnect();
  return seen;
}

describe('online erasure across versioned keyspaces', () => {
  it('deletes and verifies the user in the base keyspace and every catalog version without a SCAN, leaving other users and unlisted versions alone', async () => {
    const { keyPrefix: prefix } = testNamespace().options;
    onTestFinished(() => deleteRedisKeys(REDIS_URL, prefix));
    const redis = testRedis();
    const deletedAt = Date.now();
    await redis.hset(versionCatalogKey(prefix), 'r1', '{"state":"active"}', 'r2', '{"state":"bootstrapping"}');
    for (const keyspace of [prefix, versionPrefix(prefix, 'r1'), versionPrefix(prefix, 'r2')]) {
      await writeUser(redis, keyspace, 'gone', deletedAt - HOUR);
      await writeUser(redis, keyspace, 'kept', deletedAt - HOUR);
    }
    // a keyspace the catalog does not list: outside the erasure (docs/deletion.md)
    await writeUser(redis, versionPrefix(prefix, 'unlisted'), 'gone', deletedAt - HOUR);

    const before = await verifyOnline(redis, prefix, 'gone', deletedAt);
    expect(before.keyspaces).toEqual([prefix, versionPrefix(prefix, 'r1'), versionPrefix(prefix, 'r2')]);
    expect(before.leftovers).toHaveLength(6);
    // the dedup hashes count: each holds an entry from before the deletion
    expect(before.leftovers.filter((k) => k.includes(':dt:'))).toHaveLength(3);

    let erased: Awaited<ReturnType<typeof eraseOnline>> | undefined;
    let after: Awaited<ReturnType<typeof verifyOnline>> | undefined;
    const commands = await commandsDuring(async () => {
      erased = await eraseOnline(redis, prefix, 'gone', deletedAt, HORIZON);
      after = await verifyOnline(redis, prefix, 'gone', deletedAt);
    });
    expect(commands).not.toContain('scan');
    expect(commands).not.toContain('keys');
    expect(erased?.keysDeleted).toBe(6);
    expect(erased?.keyspaces).toBe(3);
    expect(after?.keys).toEqual([]);
    expect(after?.leftovers).toEqual([]);
    expect(await redis.get(tombstoneKey(prefix, 'gone'))).toBe(String(deletedAt));
    expect(await redis.exists(tombstoneKey(versionPrefix(prefix, 'r1'), 'gone'))).toBe(0);
    for (const keyspace of [prefix, versionPrefix(prefix, 'r1'), versionPrefix(prefix, 'r2')]) {
      expect(await redis.exists(userStateKey(keyspace, 'kept'), userDedupKey(keyspace, 'kept', 'client'))).toBe(2);
    }
    expect(await redis.exists(userStateKey(versionPrefix(prefix, 'unlisted'), 'gone'))).toBe(1);
  });

  it('counts a dedup hash with an entry from before the deletion as a leftover, and one from after as a returning customer', async () => {
    const { keyPrefix: prefix } = testNamespace().options;
    onTestFinished(() => deleteRedisKeys(REDIS_URL, prefix));
    const redis = testRedis();
    const deletedAt = Date.now();
    await redis.hset(userDedupKey(prefix, 'u', 'client'), '3', dedupEntry(deletedAt - 2 * HOUR));
    expect((await verifyOnline(redis, prefix, 'u', deletedAt)).leftovers).toEqual([userDedupKey(prefix, 'u', 'client')]);
    await redis.hset(userDedupKey(prefix, 'u', 'client'), '3', dedupEntry(deletedAt + HOUR));
    const back = await verifyOnline(redis, prefix, 'u', deletedAt);
    expect(back.keys).toEqual([userDedupKey(prefix, 'u', 'client')]);
    expect(back.leftovers).toEqual([]);
  });

  it('keeps a returning customer at the next run, erasing again only what holds data from before the deletion', async () => {
    const { keyPrefix: prefix } = testNamespace().options;
    onTestFinished(() => deleteRedisKeys(REDIS_URL, prefix));
    const redis = testRedis();
    const registry = new DeletionRegistry(new LocalLakeStorage(join(tempDir('churnfeat-online-erasure-'), 'lake')));
    await writeUser(redis, prefix, 'back', Date.now() - HOUR);
    const { record } = await registry.register({ request_id: 'req-back', user_id: 'back', received_at: new Date().toISOString() }, 'cli');
    const context = { registry, redis, prefix, horizonMs: HORIZON };
    expect((await runDeletions(context, ['online'])).online?.done).toEqual(['req-back']);
    // the customer comes back after the deletion: state rebuilt from later records only
    await writeUser(redis, prefix, 'back', record.deleted_before_ms + HOUR);
    await redis.del(tombstoneKey(prefix, 'back')); // Redis restarted empty but for the comeback
    const second = await runDeletions(context, ['online']);
    expect(await redis.exists(userStateKey(prefix, 'back'), userDedupKey(prefix, 'back', 'client'))).toBe(2);
    expect(second.online?.detail).toEqual({ reasserted: 1, reerased: 0 });
    expect(await redis.get(tombstoneKey(prefix, 'back'))).toBe(String(record.deleted_before_ms));
    // a replay rebuilt data from before the deletion: the next run erases it again
    await writeUser(redis, prefix, 'back', record.deleted_before_ms - HOUR);
    expect((await runDeletions(context, ['online'])).online?.detail).toEqual({ reasserted: 0, reerased: 1 });
    expect(await redis.exists(userStateKey(prefix, 'back'))).toBe(0);
  });
});
