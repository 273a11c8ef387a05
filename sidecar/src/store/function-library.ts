import { readFileSync } from 'node:fs';
import { Cluster, type Redis } from 'ioredis';
import { ChurnfeatError } from '../errors.ts';
import type { FeatureRegistry } from '../features/index.ts';
import { registryKey, versionPrefix } from './redis-layout.ts';
import { functionNames, readHeadFields, renderLuaProtocol } from './store-protocol.ts';

/** The Lua template: written against the constants of {@link renderLuaProtocol}, with no protocol letter of its own. */
export const LUA_TEMPLATE = readFileSync(new URL('./lua/churnfeat.lua', import.meta.url), 'utf8');

function luaString(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/**
 * Renders the Redis Function library for a registry: the library name, the protocol
 * constants, the function names, the features the read path needs and the fields of the read's
 * first HMGET (READ_HEAD, in the order the reader decodes them), then the template.
 */
export function renderFunctionLibrary(registry: FeatureRegistry): string {
  const names = functionNames(registry.version);
  const entries = registry.features.map(
    (f) => `{ id = ${luaString(f.id)}, name = ${luaString(f.name)}, fn = ${luaString(f.aggregation)}, g = ${f.granularityMs}, w = ${f.windowMs}, scale = ${f.scale} }`,
  );
  return [
    `#!lua name=${names.library}`,
    renderLuaProtocol(),
    `-- rendered from the feature registry ${registry.version}`,
    `local APPLY_FUNCTION = ${luaString(names.apply)}`,
    `local READ_FUNCTION = ${luaString(names.read)}`,
    `local FIELDS_FUNCTION = ${luaString(names.fields)}`,
    `local REGISTRY = {\n  ${entries.join(',\n  ')}\n}`,
    `local READ_HEAD = { ${readHeadFields(registry.features).map(luaString).join(', ')} }`,
    '',
    LUA_TEMPLATE,
  ].join('\n');
}

/**
 * The nodes a keyless command (FUNCTION, WAIT) must reach: every master of a Cluster (each
 * serves its own slots; config/redis-client.ts hands a Cluster out as a Redis), else the one node.
 */
export function masterNodes(redis: Redis): Redis[] {
  const client: unknown = redis;
  return client instanceof Cluster ? client.nodes('master') : [redis];
}

/** How long {@link readyMasters} waits for a Cluster client to learn its masters, ms. */
export const MASTERS_READY_TIMEOUT_MS = 10_000;

/**
 * The masters a command for every master must reach, once the client knows them: a Cluster
 * client lists none before its slot map is loaded (connecting, or lazyConnect and not used yet),
 * and a loop over none would do nothing and say nothing. So a Cluster client not `ready` is
 * pinged (which connects it) and waited for, up to `timeoutMs`; then a clear error. A
 * single-node client is its own master (its commands wait in the offline queue).
 */
export async function readyMasters(redis: Redis, timeoutMs = MASTERS_READY_TIMEOUT_MS): Promise<Redis[]> {
  const client: unknown = redis;
  if (!(client instanceof Cluster)) return [redis];
  const unknown = (why: string, cause?: unknown) =>
    new ChurnfeatError('redis_unavailable', `the Redis Cluster's masters are unknown (${why}; client status ${client.status}): a command for every master would reach none`, {
      cause,
      retryable: true,
    });
  if (client.status !== 'ready') {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unknown(`not ready after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([client.ping(), deadline]);
    } catch (error) {
      throw error instanceof ChurnfeatError ? error : unknown(error instanceof Error ? error.message : String(error), error);
    } finally {
      clearTimeout(timer);
    }
  }
  const masters = client.nodes('master');
  if (masters.length === 0) throw unknown('the slot map names no master');
  return masters;
}

/**
 * The node that serves `key`: on a Cluster, the master of the key's slot (`CLUSTER KEYSLOT`,
 * then the client's slot map), for a keyless command that must reach that node's connection
 * (UNWATCH after a WATCH of the key: sent as is, a Cluster client picks a random node); else the
 * client itself.
 */
export async function nodeOfKey(redis: Redis, key: string): Promise<Redis> {
  const client: unknown = redis;
  if (!(client instanceof Cluster)) return redis;
  const masters = await readyMasters(redis);
  const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
  const [address] = client.slots[slot] ?? [];
  const node = masters.find((n) => `${n.options.host}:${n.options.port}` === address);
  if (node === undefined) throw new ChurnfeatError('redis_unavailable', `no known master serves slot ${slot} of key ${key} (slot map: ${address ?? 'none'})`, { retryable: true });
  return node;
}

/** Loads (or replaces) the library for this registry (on every master of a Cluster, once it knows them) and records its version id in the version's keyspace under the prefix. */
export async function loadFunctionLibrary(redis: Redis, registry: FeatureRegistry, prefix: string): Promise<void> {
  const library = renderFunctionLibrary(registry);
  await Promise.all((await readyMasters(redis)).map((node) => node.call('FUNCTION', 'LOAD', 'REPLACE', library)));
  await redis.set(registryKey(versionPrefix(prefix, registry.version)), registry.version);
}

/**
 * Whether a Redis error says a function does not exist: the node lost its libraries
 * (restarted without persistence, a failover to a fresh node, FUNCTION FLUSH).
 */
export function isFunctionMissing(error: unknown): boolean {
  return error instanceof Error && /function not found/i.test(error.message);
}

/** Whether the library of a registry version is loaded in Redis (on every master of a Cluster). */
export async function isLibraryLoaded(redis: Redis, registryVersion: string): Promise<boolean> {
  const library = functionNames(registryVersion).library;
  const loaded = await Promise.all(
    (await readyMasters(redis)).map(async (node) => {
      const listed = (await node.call('FUNCTION', 'LIST', 'LIBRARYNAME', library)) as unknown[];
      // LIBRARYNAME is a pattern: an exact name can still match a longer one, so compare names.
      return listed.some((entry) => Array.isArray(entry) && entry[1] === library);
    }),
  );
  return loaded.every(Boolean);
}

/** What {@link ensureRegistered} found under `<prefix>:registry`. */
export type RegistryState = 'registered' | 'reloaded' | 'foreign';

/**
 * Makes sure Redis serves this registry under the prefix: when `<prefix>:registry` is
 * missing (Redis restarted empty), or names a version whose library is gone (a stale key),
 * loads THIS registry's library again and claims the key. A key naming another version whose
 * library is loaded belongs to a live deployment of that version (a rolling deploy): it is
 * left alone and reported as `foreign`, so two versions never take the key from each other.
 */
export async function ensureRegistered(redis: Redis, registry: FeatureRegistry, prefix: string): Promise<RegistryState> {
  const loaded = await redis.get(registryKey(versionPrefix(prefix, registry.version)));
  if (loaded === registry.version && (await isLibraryLoaded(redis, registry.version))) return 'registered';
  if (loaded !== null && loaded !== registry.version && (await isLibraryLoaded(redis, loaded))) return 'foreign';
  await loadFunctionLibrary(redis, registry, prefix);
  return 'reloaded';
}
