import type { Redis } from 'ioredis';
import { SOURCES } from '../events/index.ts';
import type { FeatureRegistry } from '../features/index.ts';
import { registryKey } from '../store/index.ts';
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
  registry: FeatureRegistry;
  prefix: string;
  watermarks: { snapshot(): WatermarkSnapshot };
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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Whether the read path can answer correctly: Redis answers PING, the registry loaded in
 * Redis is ours (otherwise the read function does not exist), and the sidecar keeps the
 * partition watermarks of every source the features read fresh.
 */
export class ReadinessProbe {
  private readonly clock: () => number;

  constructor(private readonly options: ReadinessOptions) {
    this.clock = options.clock ?? Date.now;
  }

  async check(): Promise<ReadinessReport> {
    const { redis, registry, prefix } = this.options;
    const timeoutMs = this.options.pingTimeoutMs ?? 500;
    const [ping, loaded] = await Promise.allSettled([withTimeout(redis.ping(), timeoutMs, 'Redis PING'), withTimeout(redis.get(registryKey(prefix)), timeoutMs, `GET ${registryKey(prefix)}`)]);
    const redisCheck: CheckResult = ping.status === 'fulfilled' ? { ok: true, detail: 'PING answered' } : { ok: false, detail: `Redis does not answer: ${messageOf(ping.reason)}` };
    let registryCheck: CheckResult;
    if (loaded.status === 'rejected') registryCheck = { ok: false, detail: `cannot read ${registryKey(prefix)}: ${messageOf(loaded.reason)}` };
    else if (loaded.value === registry.version) registryCheck = { ok: true, detail: `registry ${registry.version} loaded` };
    else if (loaded.value === null) registryCheck = { ok: false, detail: `no registry loaded under ${registryKey(prefix)} (no sidecar has started with this prefix)` };
    else registryCheck = { ok: false, detail: `Redis holds registry ${loaded.value}, this service serves ${registry.version}` };
    const watermarkCheck = this.checkWatermarks();
    const checks = { redis: redisCheck, registry: registryCheck, watermarks: watermarkCheck };
    const reasons = Object.entries(checks)
      .filter(([, check]) => !check.ok)
      .map(([name, check]) => `${name}: ${check.detail}`);
    return { ready: reasons.length === 0, checks, reasons };
  }

  private checkWatermarks(): CheckResult {
    const { maxWatermarkAgeMs, registry } = this.options;
    if (maxWatermarkAgeMs <= 0) return { ok: true, detail: 'watermark check disabled' };
    const snapshot = this.options.watermarks.snapshot();
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
