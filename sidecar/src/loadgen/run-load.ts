import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Arrival, EventStream, StreamRecord } from './event-stream.ts';
import { Pacer } from './pacer.ts';

/** Where generated records go (Kafka, an NDJSON file, a test's array). */
export interface RecordSink {
  write(records: readonly StreamRecord[]): Promise<void>;
  flush?(): Promise<void>;
}

export interface LoadRunOptions {
  stream: EventStream;
  /** Records per second; 0 = as fast as the sinks take them. */
  rate: number;
  /** Stop after this many records. At least one of count and durationMs is required. */
  count?: number;
  /** Stop after this long (wall clock). */
  durationMs?: number;
  /**
   * `live`: a record's ingest time is the wall clock when it is generated (freshness runs).
   * `virtual`: record n has ingest time `virtualStartMs + n * 1000 / virtualRate`, so the
   * same seed and start give byte-identical output at any speed (offline checks, replays).
   */
  clock: 'live' | 'virtual';
  virtualStartMs?: number;
  /** Records per second of the virtual clock. Default: `rate`, or 100_000 when rate is 0. */
  virtualRate?: number;
  /** Largest number of records generated and handed to the sinks at once. Default 1_000. */
  batch?: number;
  sinks: readonly RecordSink[];
  /** Called about every `progressEveryMs` (default 5_000) with the running summary. */
  onProgress?: (summary: LoadSummary) => void;
  progressEveryMs?: number;
  signal?: AbortSignal;
}

/** What a load run produced. */
export interface LoadSummary {
  produced: number;
  bytes: number;
  elapsedMs: number;
  /** produced / elapsed seconds. */
  achievedRate: number;
  targetRate: number;
  /** Largest backlog behind the schedule seen, in records (0 when the target was held). */
  maxBehind: number;
  byKind: Record<StreamRecord['kind'], number>;
  byArrival: Record<Arrival, number>;
  bySource: Record<StreamRecord['source'], number>;
  /** Hex SHA-256 over every record's source, key and value: equal for equal streams. */
  sha256: string;
  /** CPU seconds (user + system) of this process during the run. */
  cpuSeconds: number;
}

/** Generates records at the paced rate and hands them to every sink, in order. */
export async function runLoad(options: LoadRunOptions): Promise<LoadSummary> {
  if (options.count === undefined && options.durationMs === undefined) throw new RangeError('runLoad needs count or durationMs');
  const batch = options.batch ?? 1_000;
  const virtualRate = options.virtualRate ?? (options.rate > 0 ? options.rate : 100_000);
  const virtualStartMs = options.virtualStartMs ?? Date.now();
  const count = options.count ?? Number.POSITIVE_INFINITY;
  const durationMs = options.durationMs ?? Number.POSITIVE_INFINITY;
  const progressEveryMs = options.progressEveryMs ?? 5_000;
  const hash = createHash('sha256');
  const summary: LoadSummary = {
    produced: 0,
    bytes: 0,
    elapsedMs: 0,
    achievedRate: 0,
    targetRate: options.rate,
    maxBehind: 0,
    byKind: { valid: 0, duplicate: 0, invalid: 0 },
    byArrival: { on_time: 0, late: 0, very_late: 0 },
    bySource: { client: 0, billing: 0, support: 0 },
    sha256: '',
    cpuSeconds: 0,
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const pacer = new Pacer(options.rate, 0, batch);
  let nextProgress = progressEveryMs;
  const finish = (): LoadSummary => {
    summary.elapsedMs = performance.now() - t0;
    summary.achievedRate = summary.elapsedMs > 0 ? (summary.produced * 1000) / summary.elapsedMs : 0;
    const cpu = process.cpuUsage(cpu0);
    summary.cpuSeconds = (cpu.user + cpu.system) / 1e6;
    return summary;
  };
  for (;;) {
    const now = performance.now() - t0;
    if (summary.produced >= count || now >= durationMs || options.signal?.aborted) break;
    if (now >= nextProgress) {
      nextProgress += progressEveryMs;
      options.onProgress?.({ ...finish(), sha256: '' });
    }
    summary.maxBehind = Math.max(summary.maxBehind, pacer.behindBy(now, summary.produced));
    const n = Math.min(pacer.due(now, summary.produced), count - summary.produced);
    if (n <= 0) {
      await sleep(Math.max(1, Math.min(50, pacer.waitMs(now, summary.produced))));
      continue;
    }
    const wallMs = Date.now();
    const records: StreamRecord[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const seq = summary.produced + i;
      const record = options.stream.next(options.clock === 'live' ? wallMs : Math.floor(virtualStartMs + (seq * 1000) / virtualRate));
      records[i] = record;
      summary.bytes += record.value.length;
      summary.byKind[record.kind] += 1;
      summary.byArrival[record.arrival] += 1;
      summary.bySource[record.source] += 1;
      hash.update(record.source).update(record.key).update(record.value);
    }
    summary.produced += n;
    for (const sink of options.sinks) await sink.write(records);
    // Yield to the event loop now and then, so acknowledgements and timers run at full speed.
    if (options.rate === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  for (const sink of options.sinks) await sink.flush?.();
  summary.sha256 = hash.digest('hex');
  return finish();
}
