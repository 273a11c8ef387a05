/**
 * Load drivers of the benchmark. Closed loop: N requests in flight, each starting as the
 * previous one ends (measures the maximum throughput). Open loop: requests start on a
 * fixed schedule whatever the answers do, and latency counts from the scheduled start, so
 * a stall shows up in the percentiles instead of silently lowering the rate
 * (no coordinated omission).
 */

/** Latency percentiles in milliseconds plus the achieved rate. */
export interface LatencySummary {
  requests: number;
  errors: number;
  /** Error messages (first 60 characters) and how often each was seen. */
  error_kinds: Record<string, number>;
  seconds: number;
  per_second: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
}

/** Collects latencies (ms) into a growable typed array; percentiles by sorting once. */
export class LatencyRecorder {
  private samples = new Float64Array(1 << 16);
  private count = 0;
  errors = 0;
  private readonly kinds = new Map<string, number>();

  fail(error: unknown): void {
    this.errors += 1;
    const kind = (error instanceof Error ? error.message : String(error)).slice(0, 60);
    this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1);
  }

  record(ms: number): void {
    if (this.count === this.samples.length) {
      const bigger = new Float64Array(this.samples.length * 2);
      bigger.set(this.samples);
      this.samples = bigger;
    }
    this.samples[this.count++] = ms;
  }

  summary(seconds: number): LatencySummary {
    const sorted = this.samples.slice(0, this.count).sort();
    const at = (q: number): number => (sorted.length === 0 ? NaN : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number));
    const round = (ms: number): number => Math.round(ms * 1000) / 1000;
    return {
      requests: this.count,
      errors: this.errors,
      error_kinds: Object.fromEntries(this.kinds),
      seconds: round(seconds),
      per_second: Math.round(this.count / seconds),
      p50_ms: round(at(0.5)),
      p95_ms: round(at(0.95)),
      p99_ms: round(at(0.99)),
      p999_ms: round(at(0.999)),
      max_ms: round(sorted.length === 0 ? NaN : (sorted[sorted.length - 1] as number)),
    };
  }
}

/** Runs `op` with `concurrency` in flight for `seconds` (after `warmupSeconds` unrecorded). */
export async function closedLoop(op: () => Promise<unknown>, options: { concurrency: number; seconds: number; warmupSeconds?: number }): Promise<LatencySummary> {
  const recorder = new LatencyRecorder();
  const warmupEnd = performance.now() + (options.warmupSeconds ?? 1) * 1000;
  const end = warmupEnd + options.seconds * 1000;
  const worker = async (): Promise<void> => {
    for (;;) {
      const start = performance.now();
      if (start >= end) return;
      try {
        await op();
        if (start >= warmupEnd) recorder.record(performance.now() - start);
      } catch (error) {
        if (start >= warmupEnd) recorder.fail(error);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return recorder.summary(options.seconds);
}

/**
 * Starts `op` at `ratePerSecond` for `seconds` (after a warm-up) on a 1 ms tick; latency
 * is measured from each request's scheduled start. `maxInFlight` bounds memory if the
 * target falls over (requests beyond it count as errors).
 */
export async function openLoop(op: () => Promise<unknown>, options: { ratePerSecond: number; seconds: number; warmupSeconds?: number; maxInFlight?: number }): Promise<LatencySummary> {
  const recorder = new LatencyRecorder();
  const warmup = (options.warmupSeconds ?? 1) * 1000;
  const total = warmup + options.seconds * 1000;
  const maxInFlight = options.maxInFlight ?? 10_000;
  const intervalMs = 1000 / options.ratePerSecond;
  const t0 = performance.now();
  let issued = 0;
  let inFlight = 0;
  let settle: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => {
    settle = resolve;
  });
  let ticking = true;
  const fire = (scheduled: number): void => {
    const measured = scheduled - t0 >= warmup;
    if (inFlight >= maxInFlight) {
      if (measured) recorder.fail(new Error(`over ${maxInFlight} requests in flight`));
      return;
    }
    inFlight += 1;
    op()
      .then(
        () => {
          if (measured) recorder.record(performance.now() - scheduled);
        },
        (error: unknown) => {
          if (measured) recorder.fail(error);
        },
      )
      .finally(() => {
        inFlight -= 1;
        if (!ticking && inFlight === 0) settle();
      });
  };
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(Math.floor((Math.min(now, t0 + total) - t0) / intervalMs), Math.floor(total / intervalMs));
      while (issued < due) fire(t0 + issued++ * intervalMs);
      if (now - t0 >= total) {
        ticking = false;
        resolve();
        return;
      }
      setTimeout(tick, 1);
    };
    tick();
  });
  if (inFlight > 0) await allDone;
  return recorder.summary(options.seconds);
}
