import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { WatermarkSnapshot } from './watermarks.ts';
import type { UserFeatures } from './feature-view.ts';

/** Sub-millisecond to one second: the read path's budget is single-digit milliseconds. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** The HTTP serving service's Prometheus metrics, in a registry of its own. */
export class ServingMetrics {
  readonly registry = new Registry();
  readonly requestSeconds = new Histogram({
    name: 'churnfeat_serving_request_duration_seconds',
    help: 'HTTP request latency, from request received to response sent.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly usersRead = new Counter({
    name: 'churnfeat_serving_users_read_total',
    help: 'Users answered, by overall status (present / missing / stale).',
    labelNames: ['status'],
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'churnfeat_serving_batch_size',
    help: 'Users per batch request.',
    buckets: [1, 5, 10, 25, 50, 100, 250, 500],
    registers: [this.registry],
  });
  readonly storeErrors = new Counter({
    name: 'churnfeat_serving_store_errors_total',
    help: 'Reads that failed in Redis, by error code.',
    labelNames: ['code'],
    registers: [this.registry],
  });
  readonly explained = new Counter({
    name: 'churnfeat_explain_requests_total',
    help: 'Explanations answered by GET /v1/users/{id}/explain, by whether every value recomputed from its tiles equals the served one (consistent="false": a store bug, docs/data-quality.md).',
    labelNames: ['consistent'],
    registers: [this.registry],
  });
  readonly replicaFallback = new Gauge({
    name: 'churnfeat_serving_replica_fallback',
    help: '1 while --redis-read-from replica reads go to the primary because no replica is reachable, else 0.',
    registers: [this.registry],
  });
  readonly replicaFallbackReads = new Counter({
    name: 'churnfeat_serving_replica_fallback_reads_total',
    help: 'Reads (single or batch) that went to the primary because no replica was reachable.',
    registers: [this.registry],
  });
  readonly watermarkAge: Gauge<'source' | 'partition'>;
  readonly ready = new Gauge({
    name: 'churnfeat_serving_ready',
    help: '1 when the last /readyz check passed, else 0.',
    registers: [this.registry],
  });

  constructor(options: { watermarks?: { snapshot(): WatermarkSnapshot }; clock?: () => number; defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'churnfeat_serving_' });
    const watermarks = options.watermarks;
    const clock = options.clock ?? Date.now;
    this.watermarkAge = new Gauge({
      name: 'churnfeat_serving_watermark_age_seconds',
      help: 'Age of each partition watermark as the serving layer sees it in Redis (ages even when the sidecar is down).',
      labelNames: ['source', 'partition'],
      registers: [this.registry],
      // Computed at scrape time from the cached hash, so the age grows while nothing refreshes it.
      collect() {
        if (!watermarks) return;
        this.reset();
        const now = clock();
        for (const e of watermarks.snapshot().entries()) this.set({ source: e.source, partition: String(e.partition) }, Math.max(0, now - e.watermarkMs) / 1000);
      },
    });
  }

  countUsers(answers: readonly UserFeatures[]): void {
    for (const answer of answers) this.usersRead.inc({ status: answer.status });
  }
}
