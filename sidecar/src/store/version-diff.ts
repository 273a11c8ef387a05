import type { Redis } from 'ioredis';
import type { FeatureRegistry } from '../features/index.ts';
import { FeatureReader } from './feature-reader.ts';
import type { UserStateRead } from './store-model.ts';
import { versionPrefix } from './redis-layout.ts';
import { globLiteral, userOfStateKey } from './version-gc.ts';
import { readyMasters } from './function-library.ts';

/** One feature's comparison between two versions over a user sample. */
export interface FeatureDiff {
  feature: string;
  /** Users where both versions have the feature and the values are equal / differ. */
  equal: number;
  different: number;
  /** Users where only one version has state for the user (the other reads empty). */
  onlyInA: number;
  onlyInB: number;
  /** The feature exists in one version only. */
  inA: boolean;
  inB: boolean;
  /** Largest |a - b| over the numeric values that differ (null: none numeric). */
  maxAbsDiff: number | null;
}

export interface VersionDiff {
  a: string;
  b: string;
  asOfMs: number;
  users: number;
  features: FeatureDiff[];
}

/** Up to `limit` users that have state in the version (SCAN MATCH of its state hashes, every master). */
export async function sampleVersionUsers(redis: Redis, prefix: string, version: string, limit: number): Promise<string[]> {
  const keyspace = versionPrefix(prefix, version);
  const users: string[] = [];
  for (const node of await readyMasters(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${globLiteral(keyspace)}:{*}`, 'COUNT', 1_000);
      cursor = next;
      for (const key of keys) {
        const user = userOfStateKey(keyspace, key);
        if (user !== null && users.length < limit) users.push(user);
      }
    } while (cursor !== '0' && users.length < limit);
  }
  return users;
}

function compare(name: string, inA: boolean, inB: boolean, reads: Array<[UserStateRead, UserStateRead]>): FeatureDiff {
  const diff: FeatureDiff = { feature: name, equal: 0, different: 0, onlyInA: 0, onlyInB: 0, inA, inB, maxAbsDiff: null };
  if (!inA || !inB) return diff;
  for (const [a, b] of reads) {
    if (a.present !== b.present) {
      if (a.present) diff.onlyInA += 1;
      else diff.onlyInB += 1;
      continue;
    }
    const va = a.features[name]?.value ?? null;
    const vb = b.features[name]?.value ?? null;
    if (va === vb) {
      diff.equal += 1;
      continue;
    }
    diff.different += 1;
    if (typeof va === 'number' && typeof vb === 'number') diff.maxAbsDiff = Math.max(diff.maxAbsDiff ?? 0, Math.abs(va - vb));
  }
  return diff;
}

/**
 * Compares two versions over a sample of users (drawn from both keyspaces), both read at one
 * instant through each version's own read function: per feature, how many users are equal,
 * different or have state in one version only, and the largest absolute difference.
 */
export async function diffVersions(
  redis: Redis,
  prefix: string,
  a: { version: string; registry: FeatureRegistry },
  b: { version: string; registry: FeatureRegistry },
  sample: number,
  asOfMs?: number,
): Promise<VersionDiff> {
  const half = Math.max(1, Math.ceil(sample / 2));
  const drawn = new Set([...(await sampleVersionUsers(redis, prefix, a.version, half)), ...(await sampleVersionUsers(redis, prefix, b.version, sample))]);
  const users = [...drawn].slice(0, sample);
  const [seconds] = (await redis.time()) as [number | string, number | string];
  const at = asOfMs ?? Number(seconds) * 1000;
  const readerA = new FeatureReader(redis, a.registry, prefix);
  const readerB = new FeatureReader(redis, b.registry, prefix);
  const reads: Array<[UserStateRead, UserStateRead]> = [];
  for (let start = 0; start < users.length; start += 500) {
    const chunk = users.slice(start, start + 500);
    const [ra, rb] = await Promise.all([readerA.readMany(chunk, at), readerB.readMany(chunk, at)]);
    chunk.forEach((_user, i) => reads.push([ra[i] as UserStateRead, rb[i] as UserStateRead]));
  }
  const namesA = new Set(a.registry.features.map((f) => f.name));
  const namesB = new Set(b.registry.features.map((f) => f.name));
  const names = [...new Set([...namesA, ...namesB])].sort();
  return { a: a.version, b: b.version, asOfMs: at, users: users.length, features: names.map((name) => compare(name, namesA.has(name), namesB.has(name), reads)) };
}
