/** Small statistics helpers for the benchmark's figures. */

/** The q-quantile (0..1) of samples by the nearest-rank method; NaN when there are none. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** p50 / p95 / p99 / max of samples (unsorted input). */
export function percentiles(samples: readonly number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  return { count: sorted.length, p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), p99: quantile(sorted, 0.99), max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN };
}

/** One cumulative bucket of a Prometheus histogram: observations <= le. */
export interface CumulativeBucket {
  le: number;
  count: number;
}

/** The bucket-wise difference `after - before` of two snapshots of one cumulative histogram. */
export function bucketDelta(before: readonly CumulativeBucket[], after: readonly CumulativeBucket[]): CumulativeBucket[] {
  const old = new Map(before.map((b) => [b.le, b.count]));
  return after.map((b) => ({ le: b.le, count: b.count - (old.get(b.le) ?? 0) }));
}

/**
 * The q-quantile of a cumulative histogram, interpolated linearly inside the bucket that
 * holds it (Prometheus' histogram_quantile). Returns the bucket's upper bound when the
 * quantile falls in the +Inf bucket's predecessor, NaN for an empty histogram.
 */
export function histogramQuantile(buckets: readonly CumulativeBucket[], q: number): number {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted[sorted.length - 1]?.count ?? 0;
  if (total <= 0) return Number.NaN;
  const rank = q * total;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const bucket of sorted) {
    if (bucket.count >= rank) {
      if (!Number.isFinite(bucket.le)) return lowerLe;
      const inBucket = bucket.count - lowerCount;
      return inBucket > 0 ? lowerLe + ((bucket.le - lowerLe) * (rank - lowerCount)) / inBucket : bucket.le;
    }
    lowerLe = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerLe;
}

/** Rounds to `digits` significant decimals for reports (keeps integers as they are). */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
