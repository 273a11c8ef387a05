import { Gauge, type Registry } from 'prom-client';

/** Lag and progress gauges of one consumer group, by partition: what ChurnfeatConsumerStalled reads. */
export interface ConsumerProgressGauges {
  lag: Gauge<'topic' | 'partition'>;
  lastProgress: Gauge<'topic' | 'partition'>;
}

/** Creates the lag and last-progress gauges under `<prefix>_consumer_…` in a registry. */
export function consumerProgressGauges(prefix: string, registry: Registry): ConsumerProgressGauges {
  return {
    lag: new Gauge({ name: `${prefix}_consumer_lag_records`, help: 'High watermark minus committed offset.', labelNames: ['topic', 'partition'], registers: [registry] }),
    lastProgress: new Gauge({
      name: `${prefix}_consumer_last_progress_seconds`,
      help: "When the group's committed offset of a partition last moved, or it was caught up (unix seconds); lag > 0 with an old value is a stalled consumer.",
      labelNames: ['topic', 'partition'],
      registers: [registry],
    }),
  };
}

/**
 * Turns samples of a group's committed offsets and the high watermarks into the two gauges.
 * Progress is a move of the committed offset, or no lag at all (nothing to do is not a
 * stall); the first sample of a partition counts as progress, since nothing earlier is known.
 * The samples come from the group's offsets in Kafka, so every pod of the group reports the
 * same values for every partition, including those another pod owns.
 */
export class ConsumerProgress {
  private readonly seen = new Map<string, bigint>();

  constructor(private readonly gauges: ConsumerProgressGauges) {}

  /** One sample: `committed` is the group's committed offset (negative: none yet), `high` the high watermark. */
  observe(topic: string, partition: number, committed: bigint, high: bigint, nowMs: number): bigint {
    const position = committed < 0n ? 0n : committed;
    const lag = high > position ? high - position : 0n;
    const labels = { topic, partition: String(partition) };
    this.gauges.lag.set(labels, Number(lag));
    const id = `${topic}:${partition}`;
    if (lag === 0n || this.seen.get(id) !== position) this.gauges.lastProgress.set(labels, nowMs / 1000);
    this.seen.set(id, position);
    return lag;
  }
}
