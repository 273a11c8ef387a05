import type { Redis } from 'ioredis';
import { isSource, type Source } from '../events/index.ts';
import { watermarkKey } from '../store/index.ts';

/**
 * The partition watermarks the sidecar publishes in `<prefix>:wm` ("<source>:<partition>"
 * -> ms): every record ingested into that partition before the watermark is applied.
 */
export class WatermarkSnapshot {
  private readonly bySource = new Map<Source, Map<number, number>>();

  /** `fetchedAtMs`: when the hash was read (0 for a snapshot that was never fetched). */
  constructor(
    entries: Iterable<readonly [source: Source, partition: number, watermarkMs: number]>,
    readonly fetchedAtMs: number,
  ) {
    for (const [source, partition, watermarkMs] of entries) {
      const partitions = this.bySource.get(source) ?? new Map<number, number>();
      partitions.set(partition, watermarkMs);
      this.bySource.set(source, partitions);
    }
  }

  /** Parses the raw hash; fields that are not "<source>:<partition>" with a numeric value are ignored. */
  static fromHash(raw: Readonly<Record<string, string>>, fetchedAtMs: number): WatermarkSnapshot {
    const entries: Array<[Source, number, number]> = [];
    for (const [field, value] of Object.entries(raw)) {
      const cut = field.lastIndexOf(':');
      const source = field.slice(0, cut);
      const partition = Number(field.slice(cut + 1));
      const ms = Number(value);
      if (cut > 0 && isSource(source) && Number.isInteger(partition) && partition >= 0 && Number.isFinite(ms)) {
        entries.push([source, partition, ms]);
      }
    }
    return new WatermarkSnapshot(entries, fetchedAtMs);
  }

  static empty(): WatermarkSnapshot {
    return new WatermarkSnapshot([], 0);
  }

  /** The watermark of one partition, or undefined when the sidecar has not published it. */
  of(source: Source, partition: number): number | undefined {
    return this.bySource.get(source)?.get(partition);
  }

  /**
   * The oldest watermark among the source's partitions: a bound that holds whatever
   * partition a user's records land on (used for users with no state from that source).
   */
  oldestOf(source: Source): number | undefined {
    const partitions = this.bySource.get(source);
    if (!partitions || partitions.size === 0) return undefined;
    let oldest = Infinity;
    for (const ms of partitions.values()) if (ms < oldest) oldest = ms;
    return oldest;
  }

  /** Every published watermark, for readiness checks and metrics. */
  entries(): Array<{ source: Source; partition: number; watermarkMs: number }> {
    const out: Array<{ source: Source; partition: number; watermarkMs: number }> = [];
    for (const [source, partitions] of this.bySource) {
      for (const [partition, watermarkMs] of partitions) out.push({ source, partition, watermarkMs });
    }
    return out.sort((a, b) => a.source.localeCompare(b.source) || a.partition - b.partition);
  }

  hasSource(source: Source): boolean {
    return (this.bySource.get(source)?.size ?? 0) > 0;
  }
}

/** Reads `<prefix>:wm` once. */
export async function fetchWatermarks(redis: Redis, prefix: string, nowMs = Date.now()): Promise<WatermarkSnapshot> {
  return WatermarkSnapshot.fromHash(await redis.hgetall(watermarkKey(prefix)), nowMs);
}

export interface WatermarkCacheOptions {
  /** How often the hash is re-read. Default: 500 ms. */
  refreshMs?: number;
  /** Called when a refresh fails (the previous snapshot stays in use). */
  onError?: (error: unknown) => void;
}

/**
 * Keeps the watermark hash in memory, refreshed in the background, so a read costs one
 * Redis round trip (the FCALL) and not two. Staleness computed from it can be off by at
 * most the refresh period, on the safe side (an older watermark looks staler).
 */
export class WatermarkCache {
  private current = WatermarkSnapshot.empty();
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  /** The last refresh error, cleared by the next successful refresh. */
  lastError: unknown = null;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly options: WatermarkCacheOptions = {},
  ) {}

  /** Loads once (failures are kept in `lastError`, not thrown) and starts the refresh timer. */
  async start(): Promise<void> {
    await this.refresh();
    if (this.timer) return;
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs ?? 500);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  snapshot(): WatermarkSnapshot {
    return this.current;
  }

  /** Re-reads the hash now; concurrent callers share one read. */
  refresh(): Promise<void> {
    this.refreshing ??= fetchWatermarks(this.redis, this.prefix)
      .then((snapshot) => {
        this.current = snapshot;
        this.lastError = null;
      })
      .catch((error: unknown) => {
        this.lastError = error;
        this.options.onError?.(error);
      })
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }
}
