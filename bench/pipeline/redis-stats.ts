import type { Redis } from 'ioredis';
import { activeVersionKey, lifecycleAuditKey, versionCatalogKey } from '../../sidecar/src/store/redis-layout.ts';

/** `INFO <section>` as key -> value. */
export async function info(redis: Redis, section: string): Promise<Map<string, string>> {
  const text = await redis.info(section);
  const out = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) out.set(line.slice(0, at), line.slice(at + 1));
  }
  return out;
}

/** Calls per command from `INFO commandstats` (commands run inside functions count too). */
export async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const [key, value] of await info(redis, 'commandstats')) {
    const calls = /(?:^|,)calls=(\d+)/.exec(value);
    if (key.startsWith('cmdstat_') && calls) out.set(key.slice('cmdstat_'.length), Number(calls[1]));
  }
  return out;
}

/** Microseconds spent per command from `INFO commandstats` (a function's time includes the commands it ran). */
export async function commandMicros(redis: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const [key, value] of await info(redis, 'commandstats')) {
    const usec = /(?:^|,)usec=(\d+)/.exec(value);
    if (key.startsWith('cmdstat_') && usec) out.set(key.slice('cmdstat_'.length), Number(usec[1]));
  }
  return out;
}

/** Redis server CPU seconds (user + system, all threads). */
export async function serverCpuSeconds(redis: Redis): Promise<number> {
  const cpu = await info(redis, 'cpu');
  return Number(cpu.get('used_cpu_user') ?? 0) + Number(cpu.get('used_cpu_sys') ?? 0);
}

export interface RedisSnapshot {
  atMs: number;
  calls: Map<string, number>;
  cpuSeconds: number;
  usedMemory: number;
  connectedClients: number;
}

export async function snapshot(redis: Redis): Promise<RedisSnapshot> {
  const memory = await info(redis, 'memory');
  const clients = await info(redis, 'clients');
  return {
    atMs: Date.now(),
    calls: await commandCalls(redis),
    cpuSeconds: await serverCpuSeconds(redis),
    usedMemory: Number(memory.get('used_memory') ?? 0),
    connectedClients: Number(clients.get('connected_clients') ?? 0),
  };
}

/** What Redis did between two snapshots, per event. */
export interface RedisDelta {
  /** Round trips the clients sent (FCALL and everything else, not counting commands run inside functions). */
  topLevelCalls: number;
  /** Every command executed, including the ones functions ran. */
  allCalls: number;
  byCommand: Record<string, number>;
  cpuSeconds: number;
}

/** Commands a function runs from inside (counted by commandstats as well as the FCALL). */
const SCRIPT_ONLY_HINT = new Set(['hget', 'hset', 'hincrby', 'zadd', 'zremrangebyscore', 'hlen', 'pexpire', 'exists', 'hgetall', 'hdel', 'time']);

/**
 * The difference of two snapshots. The split between top-level calls and commands run
 * inside functions is known exactly only for this benchmark's traffic: the sidecar sends
 * FCALL, HSET (watermarks) and nothing else from the hot path; the other commands are
 * counted as run inside FCALL.
 */
export function redisDelta(before: RedisSnapshot, after: RedisSnapshot): RedisDelta {
  const byCommand: Record<string, number> = {};
  let allCalls = 0;
  for (const [command, calls] of after.calls) {
    const delta = calls - (before.calls.get(command) ?? 0);
    if (delta > 0) {
      byCommand[command] = delta;
      allCalls += delta;
    }
  }
  let inside = 0;
  for (const [command, calls] of Object.entries(byCommand)) if (SCRIPT_ONLY_HINT.has(command)) inside += calls;
  return { topLevelCalls: allCalls - inside, allCalls, byCommand, cpuSeconds: after.cpuSeconds - before.cpuSeconds };
}

/** Every key under `prefix:`, by SCAN. */
export async function scanKeys(redis: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 2_000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

/** Deletes every key under `prefix:`; returns how many. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  const keys = await scanKeys(redis, prefix);
  for (let i = 0; i < keys.length; i += 1_000) await redis.unlink(...keys.slice(i, i + 1_000));
  return keys.length;
}

/** Memory of the users' state as Redis reports it, from a sample of users. */
export interface UserMemory {
  users: number;
  sampled: number;
  /** Mean bytes per user over all of the user's keys (MEMORY USAGE ... SAMPLES 0: exact). */
  bytesPerUser: number;
  /** Mean bytes per user in hashes (feature state) and in sorted sets (dedup horizon). */
  hashBytesPerUser: number;
  zsetBytesPerUser: number;
  /** Mean bytes per user in the state hash (`<prefix>:{<user>}`) and in every other key of the user (the dedup horizon). */
  stateBytesPerUser: number;
  /** Mean bytes per user in the read head (`<prefix>:{<user>}:h`, store protocol 7); not part of dedupBytesPerUser. */
  headBytesPerUser: number;
  dedupBytesPerUser: number;
  /** Mean hash fields and sorted-set members per user. */
  hashFields: number;
  zsetMembers: number;
  keysPerUser: number;
  /** How many sampled keys use each encoding (listpack is compact; hashtable/skiplist cost several times more). */
  encodings: Record<string, number>;
}

/** The hash tag of a key (`{user_id}`), which every key of one user shares. */
function tagOf(key: string): string | null {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  return close > open + 1 ? key.slice(open + 1, close) : null;
}

/**
 * Samples up to `sample` users under `prefix` and measures all of their keys. Users are
 * found by hash tag (`<prefix>:{<user_id>}...`, see sidecar/src/store/redis-layout.ts), so
 * the figure follows the layout whatever keys it gives a user.
 */
export async function userMemory(redis: Redis, prefix: string, sample = 2_000, includeUser: (user: string) => boolean = () => true): Promise<UserMemory> {
  const byUser = new Map<string, string[]>();
  // the version catalog, alias and audit (one hash tag of their own) are no user's
  const lifecycle = new Set([activeVersionKey(prefix), versionCatalogKey(prefix), lifecycleAuditKey(prefix)]);
  for (const key of await scanKeys(redis, prefix)) {
    const tag = tagOf(key);
    if (tag === null || lifecycle.has(key) || !includeUser(tag)) continue;
    let list = byUser.get(tag);
    if (!list) byUser.set(tag, (list = []));
    list.push(key);
  }
  const users = [...byUser.keys()].sort();
  const step = Math.max(1, Math.floor(users.length / sample));
  const chosen = users.filter((_, i) => i % step === 0).slice(0, sample);
  const keys = chosen.flatMap((user) => byUser.get(user) as string[]);
  const encodings: Record<string, number> = {};
  const totals = { all: 0, hash: 0, zset: 0, fields: 0, members: 0, state: 0, head: 0 };
  for (let i = 0; i < keys.length; i += 300) {
    const part = keys.slice(i, i + 300);
    const pipe = redis.pipeline();
    for (const key of part) {
      pipe.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
      pipe.type(key);
      pipe.call('OBJECT', 'ENCODING', key);
    }
    const replies = (await pipe.exec()) ?? [];
    const sizes = redis.pipeline();
    part.forEach((key, j) => {
      const bytes = Number(replies[j * 3]?.[1] ?? 0);
      const type = String(replies[j * 3 + 1]?.[1] ?? 'none');
      const encoding = String(replies[j * 3 + 2]?.[1] ?? 'none');
      totals.all += bytes;
      if (key.endsWith('}')) totals.state += bytes;
      if (key.endsWith('}:h')) totals.head += bytes;
      encodings[`${type}:${encoding}`] = (encodings[`${type}:${encoding}`] ?? 0) + 1;
      if (type === 'hash') {
        totals.hash += bytes;
        sizes.hlen(key);
      } else if (type === 'zset') {
        totals.zset += bytes;
        sizes.zcard(key);
      }
    });
    const counts = (await sizes.exec()) ?? [];
    let k = 0;
    part.forEach((_, j) => {
      const type = String(replies[j * 3 + 1]?.[1] ?? 'none');
      if (type === 'hash') totals.fields += Number(counts[k++]?.[1] ?? 0);
      else if (type === 'zset') totals.members += Number(counts[k++]?.[1] ?? 0);
    });
  }
  const n = Math.max(1, chosen.length);
  return {
    users: users.length,
    sampled: chosen.length,
    bytesPerUser: totals.all / n,
    hashBytesPerUser: totals.hash / n,
    zsetBytesPerUser: totals.zset / n,
    stateBytesPerUser: totals.state / n,
    headBytesPerUser: totals.head / n,
    dedupBytesPerUser: (totals.all - totals.state - totals.head) / n,
    hashFields: totals.fields / n,
    zsetMembers: totals.members / n,
    keysPerUser: keys.length / n,
    encodings,
  };
}
