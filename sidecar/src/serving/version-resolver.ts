import type { Redis } from 'ioredis';
import type { FeatureRegistry } from '../features/index.ts';
import { readActiveVersion, readRecord } from '../store/index.ts';
import { RedisStateReader, type StateReader } from './redis-state-reader.ts';
import { ServingError } from './serving-error.ts';
import { WatermarkCache, type WatermarkSnapshot } from './watermarks.ts';

/** One registry version as the read path serves it: its registry, where its state is read, its watermarks. */
export interface ServedVersion {
  version: string;
  registry: FeatureRegistry;
  reader: StateReader;
  watermarks: { snapshot(): WatermarkSnapshot };
}

/**
 * Where the read path learns which version answers: resolved once per request (one user or one
 * batch), so an answer comes entirely from one version. `invalidate` forgets the cached
 * resolution (a read that found the version's function gone re-resolves at once).
 */
export interface VersionSource {
  resolve(): Promise<ServedVersion>;
  invalidate(): void;
}

/** A source that always serves one version: the registry the client was built with (unit tests, benchmarks, one-version tools). */
export function fixedVersion(version: ServedVersion): VersionSource {
  return { resolve: async () => version, invalidate: () => undefined };
}

/** How long a resolution of the alias is reused before it is read again. */
export const DEFAULT_ALIAS_CACHE_MS = 1_000;

export interface VersionResolverOptions {
  /** Reuse a resolution this long (ms). Default {@link DEFAULT_ALIAS_CACHE_MS}: after a cutover a reader moves within it. */
  aliasCacheMs?: number;
  /** Watermark refresh of each served version (ms). Default 500. */
  watermarkRefreshMs?: number;
  clock?: () => number;
  /**
   * The client for the alias, the catalog and the watermarks (default: the read client). With
   * `--redis-read-from replica` this is the primary: a cutover is seen at once.
   */
  control?: Redis;
  /** Wraps the reader of each served version (replica reads that fall back to the primary, replica-fallback.ts). */
  wrapReader?: (reader: StateReader, registry: FeatureRegistry) => StateReader;
}

/** How many versions keep a watermark cache running (the active one and the one just left). */
const KEPT_VERSIONS = 2;

/**
 * Follows the alias (`activeVersionKey`) for the read path: GET the alias, take the version's
 * registry from its catalog record (or the registry this process was started with when that is
 * the version), and read from that version's keyspace. Before any version is registered (no
 * alias) it serves the start-up registry's own version.
 *
 * A resolution is cached for `aliasCacheMs` (default 1 s); concurrent callers share one GET.
 * Registries are cached by version id (a version's content never changes under its id).
 */
export class VersionResolver implements VersionSource {
  private cached: { served: ServedVersion; atMs: number } | null = null;
  private inflight: Promise<ServedVersion> | null = null;
  private readonly served = new Map<string, ServedVersion & { cache: WatermarkCache }>();
  private readonly clock: () => number;
  private readonly aliasCacheMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** The registry this process was started with. */
    readonly startupRegistry: FeatureRegistry,
    private readonly options: VersionResolverOptions = {},
  ) {
    this.clock = options.clock ?? Date.now;
    this.aliasCacheMs = options.aliasCacheMs ?? DEFAULT_ALIAS_CACHE_MS;
  }

  /** The version the last resolution found (null before the first). */
  current(): ServedVersion | null {
    return this.cached?.served ?? null;
  }

  resolve(): Promise<ServedVersion> {
    const cached = this.cached;
    if (cached && this.clock() - cached.atMs < this.aliasCacheMs) return Promise.resolve(cached.served);
    this.inflight ??= this.lookup().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  invalidate(): void {
    this.cached = null;
  }

  /** Stops every watermark cache. */
  stop(): void {
    for (const served of this.served.values()) served.cache.stop();
    this.served.clear();
  }

  private async lookup(): Promise<ServedVersion> {
    const alias = await readActiveVersion(this.options.control ?? this.redis, this.prefix);
    const version = alias ?? this.startupRegistry.version;
    const served = this.served.get(version) ?? (await this.open(version));
    this.cached = { served, atMs: this.clock() };
    return served;
  }

  private async open(version: string): Promise<ServedVersion & { cache: WatermarkCache }> {
    let registry = this.startupRegistry;
    if (version !== this.startupRegistry.version) {
      const record = await readRecord(this.options.control ?? this.redis, this.prefix, version);
      if (record === null) throw new ServingError('registry_mismatch', `the alias names version ${version}, which has no catalog record: its registry is unknown to this service`);
      registry = record.registry;
    }
    const direct = new RedisStateReader(this.redis, registry, this.prefix);
    const reader = this.options.wrapReader?.(direct, registry) ?? direct;
    const cache = new WatermarkCache(this.options.control ?? this.redis, direct.keyspace, { refreshMs: this.options.watermarkRefreshMs ?? 500 });
    await cache.start();
    const served = { version, registry, reader, watermarks: cache, cache };
    this.served.set(version, served);
    // The oldest caches stop: a reader serves one version, briefly two around a cutover.
    while (this.served.size > KEPT_VERSIONS) {
      const [oldest, entry] = this.served.entries().next().value as [string, ServedVersion & { cache: WatermarkCache }];
      entry.cache.stop();
      this.served.delete(oldest);
    }
    return served;
  }
}
