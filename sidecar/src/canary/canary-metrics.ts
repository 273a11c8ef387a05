import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Buckets include the SLO thresholds (30 s, 120 s) exactly, so the burn-rate rules can read them. */
const READABLE_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];

/** How a probe ended. `readable` probes are also observed in the histogram. */
export const PROBE_OUTCOMES = ['readable', 'timeout', 'produce_error'] as const;
export type ProbeOutcome = (typeof PROBE_OUTCOMES)[number];

/** The canary's Prometheus metrics (the black-box freshness SLI). */
export class CanaryMetrics {
  readonly registry: Registry;
  readonly readableSeconds: Histogram<'source'>;
  readonly probes: Counter<'source' | 'outcome'>;
  readonly readErrors: Counter<'source'>;
  readonly lastReadableSeconds: Gauge<'source' | 'partition'>;
  readonly lastRun: Gauge;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    this.readableSeconds = new Histogram({
      name: 'churnfeat_canary_readable_seconds',
      help: 'Probe event sent to Kafka -> readable through the serving read path.',
      labelNames: ['source'],
      buckets: READABLE_BUCKETS,
      registers,
    });
    this.probes = new Counter({
      name: 'churnfeat_canary_probes_total',
      help: 'Probes by outcome: readable, timeout (never readable within the timeout), produce_error.',
      labelNames: ['source', 'outcome'],
      registers,
    });
    this.readErrors = new Counter({ name: 'churnfeat_canary_read_errors_total', help: 'Polls of the read path that failed (the probe stays pending).', labelNames: ['source'], registers });
    this.lastReadableSeconds = new Gauge({
      name: 'churnfeat_canary_last_readable_seconds',
      help: 'Readable delay of the last probe of each partition (-1: timed out).',
      labelNames: ['source', 'partition'],
      registers,
    });
    this.lastRun = new Gauge({ name: 'churnfeat_canary_last_run_timestamp_seconds', help: 'When the last probe round finished (unix seconds).', registers });
  }
}
