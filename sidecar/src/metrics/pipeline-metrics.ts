import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ConsumerProgress, consumerProgressGauges } from './consumer-progress.ts';

/**
 * Verdicts of the conservation law: consumed = applied + duplicate + replayed + deleted + too_late + invalid + irrelevant
 * (`deleted`: a record of an erased user from before the erasure, dropped by the tombstone; docs/deletion.md).
 */
export const RECORD_VERDICTS = ['applied', 'duplicate', 'replayed', 'deleted', 'too_late', 'invalid', 'irrelevant'] as const;
export type RecordVerdict = (typeof RECORD_VERDICTS)[number];

const FRESHNESS_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];

/** The sidecar's Prometheus metrics, in a registry of its own. */
export class PipelineMetrics {
  readonly registry = new Registry();
  readonly consumed = new Counter({ name: 'churnfeat_records_consumed_total', help: 'Records read from source topics.', labelNames: ['source'], registers: [this.registry] });
  readonly verdicts = new Counter({ name: 'churnfeat_records_total', help: 'Records by verdict; sums to consumed.', labelNames: ['source', 'verdict'], registers: [this.registry] });
  readonly invalid = new Counter({ name: 'churnfeat_invalid_records_total', help: 'Dead-lettered records by reason code.', labelNames: ['source', 'reason'], registers: [this.registry] });
  readonly olderSchemaVersion = new Counter({
    name: 'churnfeat_older_schema_version_records_total',
    help: 'Valid records that only an older listed schema version accepted (the newest did not), by that version: zero for a while means the version can be dropped from contracts/events/versions.json.',
    labelNames: ['source', 'version'],
    registers: [this.registry],
  });
  readonly eventToReadable = new Histogram({
    name: 'churnfeat_event_to_readable_seconds',
    help: 'Event time to readable in Redis.',
    labelNames: ['source'],
    buckets: FRESHNESS_BUCKETS,
    registers: [this.registry],
  });
  readonly ingestToReadable = new Histogram({
    name: 'churnfeat_ingest_to_readable_seconds',
    help: 'ingest_ts to readable in Redis.',
    labelNames: ['source'],
    buckets: FRESHNESS_BUCKETS,
    registers: [this.registry],
  });
  private readonly progressGauges = consumerProgressGauges('churnfeat', this.registry);
  readonly lag = this.progressGauges.lag;
  readonly lastProgress = this.progressGauges.lastProgress;
  /** Lag and last progress of the sidecar's group, fed by its watermark ticker. */
  readonly progress = new ConsumerProgress(this.progressGauges);
  readonly watermark = new Gauge({ name: 'churnfeat_partition_watermark_seconds', help: 'Partition watermark (unix seconds).', labelNames: ['topic', 'partition'], registers: [this.registry] });
  readonly storeRetries = new Counter({
    name: 'churnfeat_store_write_retries_total',
    help: 'Store writes tried again: Redis unavailable, the function library missing (Redis restarted empty), too few replicas acknowledged a batch within the WAIT timeout (replicas_behind), or the WAIT failed (wait_failed).',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly libraryReloads = new Counter({
    name: 'churnfeat_store_library_reloads_total',
    help: 'Times the sidecar loaded its function library into Redis again after Redis lost it.',
    registers: [this.registry],
  });
  readonly batchSeconds = new Histogram({
    name: 'churnfeat_batch_seconds',
    help: 'Time to process one fetched batch.',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });

  /** Plain counts for reports and tests: verdict -> count, summed over sources. */
  async totals(): Promise<Record<RecordVerdict | 'consumed', number>> {
    const out = Object.fromEntries([...RECORD_VERDICTS, 'consumed'].map((v) => [v, 0])) as Record<RecordVerdict | 'consumed', number>;
    for (const value of (await this.verdicts.get()).values) out[value.labels.verdict as RecordVerdict] += value.value;
    for (const value of (await this.consumed.get()).values) out.consumed += value.value;
    return out;
  }
}

/**
 * Estimates a quantile from a prom-client histogram's buckets (linear inside a bucket),
 * the way PromQL's histogram_quantile does.
 */
export function histogramQuantile(q: number, metric: { values: Array<{ labels: Record<string, unknown>; value: number; metricName?: string }> }): number {
  const buckets = new Map<number, number>();
  for (const v of metric.values) {
    if (!v.metricName?.endsWith('_bucket')) continue;
    const le = v.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(v.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + v.value);
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted[sorted.length - 1]?.[1] ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let previousLe = 0;
  let previousCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return previousLe;
      return previousLe + ((le - previousLe) * (rank - previousCount)) / Math.max(1, count - previousCount);
    }
    previousLe = le;
    previousCount = count;
  }
  return previousLe;
}
