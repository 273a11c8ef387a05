import type { Redis } from 'ioredis';
import { readyMasters } from './function-library.ts';
import { registryKey, versionPrefix } from './redis-layout.ts';
import { functionNames } from './store-protocol.ts';

/** Glob-escapes a literal for SCAN MATCH. */
export function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** The SCAN pattern of every key of one version: its users' keys, watermarks, registry marker, bootstrap progress. */
export function versionKeyPattern(prefix: string, version: string): string {
  return `${globLiteral(versionPrefix(prefix, version))}:*`;
}

/** Whether a key of the version's keyspace is a user's state hash (`<vprefix>:{<user>}`): what "users" counts. */
export function userOfStateKey(keyspace: string, key: string): string | null {
  const head = `${keyspace}:{`;
  if (!key.startsWith(head) || !key.endsWith('}')) return null;
  const user = key.slice(head.length, -1);
  return user.includes('}') ? null : user;
}

/** Counts, as GC sees them. */
export interface GcProgress {
  keys: number;
  users: number;
  /** Keys deleted so far (0 in a count or a dry run). */
  deleted: number;
  usersDeleted: number;
}

/** Walks every master (once a Cluster client knows them: a walk of none would delete nothing) with SCAN MATCH (non-blocking, COUNT per call), handing each batch of keys found. */
async function scanVersion(redis: Redis, pattern: string, count: number, onKeys: (node: Redis, keys: string[]) => Promise<void>): Promise<void> {
  for (const node of await readyMasters(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (keys.length > 0) await onKeys(node, keys);
    } while (cursor !== '0');
  }
}

/** Counts the version's keys and users (read-only, what `gc --dry-run` prints and the bar's total). */
export async function countVersionKeys(redis: Redis, prefix: string, version: string, scanCount = 1_000): Promise<GcProgress> {
  const keyspace = versionPrefix(prefix, version);
  const progress: GcProgress = { keys: 0, users: 0, deleted: 0, usersDeleted: 0 };
  await scanVersion(redis, versionKeyPattern(prefix, version), scanCount, async (_node, keys) => {
    progress.keys += keys.length;
    progress.users += keys.filter((key) => userOfStateKey(keyspace, key) !== null).length;
  });
  return progress;
}

export interface GcOptions {
  /** Keys per UNLINK. */
  batch: number;
  /** Pause after each UNLINK, ms: Redis serves other clients in between. */
  pauseMs: number;
  onProgress?: (progress: GcProgress) => void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Removes every key of a version in bounded batches: SCAN MATCH over every master, UNLINK of at
 * most `batch` keys at a time on the node that holds them (UNLINK frees memory in a background
 * thread), a pause after each. Never blocks Redis for long; safe to run again after a stop.
 */
export async function collectVersionKeys(redis: Redis, prefix: string, version: string, options: GcOptions): Promise<GcProgress> {
  const keyspace = versionPrefix(prefix, version);
  const progress: GcProgress = { keys: 0, users: 0, deleted: 0, usersDeleted: 0 };
  await scanVersion(redis, versionKeyPattern(prefix, version), Math.max(options.batch, 10), async (node, keys) => {
    for (let start = 0; start < keys.length; start += options.batch) {
      const chunk = keys.slice(start, start + options.batch);
      // One UNLINK per key in a pipeline: in a Cluster the keys of one call may sit in several slots of the node.
      const pipeline = node.pipeline();
      for (const key of chunk) pipeline.unlink(key);
      const results = (await pipeline.exec()) ?? [];
      for (const [error] of results) if (error) throw error;
      const users = chunk.filter((key) => userOfStateKey(keyspace, key) !== null).length;
      progress.keys += chunk.length;
      progress.deleted += chunk.length;
      progress.users += users;
      progress.usersDeleted += users;
      options.onProgress?.(progress);
      if (options.pauseMs > 0) await sleep(options.pauseMs);
    }
  });
  return progress;
}

/** What GC did with a collected version's Redis Function library. */
export interface LibraryCollection {
  library: string;
  /** Masters it was deleted on (0 when kept, or when it was gone already). */
  deletedOn: number;
  /** Other base prefixes that still run the version (their registry marker names it): the library is kept for them. */
  usedBy: string[];
}

/**
 * Deletes the Function library of a version whose keys GC removed (`FUNCTION DELETE
 * churnfeat_<version>` on every master), unless another base prefix still runs that version:
 * every deployment of a version keeps its registry marker `<prefix>:v:<version>:registry`
 * (its sidecar writes it back after a Redis loss), found by SCAN MATCH on every master. The
 * library name carries the version, so no other version's library is touched; the last prefix
 * to collect the version deletes it. A reader still on the version then gets `Function not
 * found` and resolves the alias again (serving/feature-client.ts). Run again, it does nothing.
 */
export async function collectVersionLibrary(redis: Redis, prefix: string, version: string, options: { dryRun?: boolean; scanCount?: number } = {}): Promise<LibraryCollection> {
  const library = functionNames(version).library;
  const own = registryKey(versionPrefix(prefix, version));
  const suffix = `:v:${version}:registry`;
  const usedBy = new Set<string>();
  await scanVersion(redis, `*${globLiteral(suffix)}`, options.scanCount ?? 1_000, async (_node, keys) => {
    for (const key of keys) if (key !== own && key.endsWith(suffix)) usedBy.add(key.slice(0, -suffix.length));
  });
  const result: LibraryCollection = { library, deletedOn: 0, usedBy: [...usedBy].sort() };
  if (usedBy.size > 0 || options.dryRun) return result;
  for (const node of await readyMasters(redis)) {
    try {
      await node.call('FUNCTION', 'DELETE', library);
      result.deletedOn += 1;
    } catch (error) {
      if (!/library not found/i.test(error instanceof Error ? error.message : '')) throw error;
    }
  }
  return result;
}
