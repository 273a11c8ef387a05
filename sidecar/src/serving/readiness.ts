import type { Redis } from 'ioredis';
import { SOURCES } from '../events/index.ts';
import type { FeatureRegistry } from '../features/index.ts';
import { registryKey, versionPrefix } from '../store/index.ts';
import { fixedVersion, type ServedVersion, type VersionSource } from './version-resolver.ts';
import type { WatermarkSnapshot } from './watermarks.ts';

/** One readiness check: ok, or why not. */
export interface CheckResult {
  ok: boolean;
  detail: string;
}

/** The answer of /readyz. */
export interface ReadinessReport {
  ready: boolean;
  checks: { redis: CheckResult; registry: CheckResult; watermarks: CheckResult };
  /** The details of the failed checks, for a human reading the 503. */
  reasons: string[];
}

export interface ReadinessOptions {
  redis: Redis;
  /** The registry the service started with (served when no `versions` is given). */
  registry: FeatureRegistry;
  prefix: string;
  /** Its watermarks (when no `versions`). */
  watermarks: { snapshot(): WatermarkSnapshot };
  /** The version source the read path follows: the checks are about the version it serves now. */
  versions?: VersionSource;
  /** A partition watermark older than this makes the service unready; 0 disables the check. */
  maxWatermarkAgeMs: number;
  /** PING timeout. Default: 500 ms. */
  pingTimeoutMs?: number;
  clock?: () => number;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function never(): never {
  throw new Error('readiness reads no state');
}

function report(checks: ReadinessReport['checks']): ReadinessReport {
  const reasons = Object.entries(checks)
    .filter(([, check]) => !check.ok)
    .map(([name, check]) => `${name}: ${check.detail}`);
  return { ready: reasons.length === 0, checks, reasons };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Whether the read path can answer correctly: Redis answers PING, the version it serves (the
 * active one, docs/lifecycle.md) has its registry loaded in Redis (otherwise the read function
 * does not exist), and that version's sidecar keeps the partition watermarks of every source
 * its features read fresh.
 */
export class ReadinessProbe {
  private readonly clock: () => number;
  private readonly versions: VersionSource;

  constructor(private readonly options: ReadinessOptions) {
    this.clock = options.clock ?? Date.now;
    this.versions = options.versions ?? fixedVersion({ version: options.registry.version, registry: options.registry, reader: { read: never, readMany: never }, watermarks: options.watermarks });
  }

  async check(): Promise<ReadinessReport> {
    const { redis, prefix } = this.options;
    const timeoutMs = this.options.pingTimeoutMs ?? 500;
    const [ping, resolved] = await Promise.allSettled([withTimeout(redis.ping(), timeoutMs, 'Redis PING'), withTimeout(this.versions.resolve(), timeoutMs, 'resolving the active version')]);
    const redisCheck: CheckResult = ping.status === 'fulfilled' ? { ok: true, detail: 'PING answered' } : { ok: false, detail: `Redis does not answer: ${messageOf(ping.reason)}` };
    if (resolved.status === 'rejected') {
      const registryCheck = { ok: false, detail: `cannot resolve the active version: ${messageOf(resolved.reason)}` };
      return report({ redis: redisCheck, registry: registryCheck, watermarks: { ok: false, detail: 'unknown: no version resolved' } });
    }
    const served = resolved.value;
    const key = registryKey(versionPrefix(prefix, served.version));
    let registryCheck: CheckResult;
    try {
      const loaded = await withTimeout(redis.get(key), timeoutMs, `GET ${key}`);
      if (loaded === served.version) registryCheck = { ok: true, detail: `registry ${served.version} loaded (the version served)` };
      else if (loaded === null) registryCheck = { ok: false, detail: `no registry loaded under ${key} (no sidecar of version ${served.version} has started with this prefix)` };
      else registryCheck = { ok: false, detail: `${key} names registry ${loaded}, this service serves ${served.version}` };
    } catch (error) {
      registryCheck = { ok: false, detail: `cannot read ${key}: ${messageOf(error)}` };
    }
    return report({ redis: redisCheck, registry: registryCheck, watermarks: this.checkWatermarks(served) });
  }

  private checkWatermarks(served: ServedVersion): CheckResult {
    const { maxWatermarkAgeMs } = this.options;
    const registry = served.registry;
    if (maxWatermarkAgeMs <= 0) return { ok: true, detail: 'watermark check disabled' };
    const snapshot = served.watermarks.snapshot();
    const now = this.clock();
    const problems: string[] = [];
    for (const source of SOURCES.filter((s) => registry.features.some((f) => f.source === s))) {
      if (!snapshot.hasSource(source)) problems.push(`no watermark published for source ${source}`);
    }
    const old = snapshot.entries().filter((e) => now - e.watermarkMs > maxWatermarkAgeMs);
    for (const e of old.slice(0, 5)) problems.push(`${e.source}:${e.partition} watermark is ${Math.round((now - e.watermarkMs) / 1000)} s old`);
    if (old.length > 5) problems.push(`and ${old.length - 5} more partitions`);
    if (problems.length > 0) return { ok: false, detail: `${problems.join('; ')} (limit ${maxWatermarkAgeMs / 1000} s)` };
    return { ok: true, detail: `${snapshot.entries().length} partition watermarks within ${maxWatermarkAgeMs / 1000} s` };
  }
}
