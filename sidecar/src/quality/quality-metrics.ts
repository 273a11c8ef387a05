import { Counter, Gauge, type Registry } from 'prom-client';

/** The detector's Prometheus metrics, registered on the owner's registry (the sidecar's /metrics). */
export class QualityMetrics {
  readonly detections: Counter<'kind' | 'source' | 'event_type' | 'severity'>;
  readonly active: Gauge<'kind' | 'series' | 'source' | 'event_type' | 'platform' | 'severity'>;
  readonly errors: Counter<'stage'>;
  readonly coldStart: Gauge<'source'>;
  readonly clock: Gauge;
  readonly published: Counter;
  readonly dropped: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.detections = new Counter({
      name: 'churnfeat_anomaly_detections_total',
      help: 'Volume anomalies detected (firing records on the data-quality topic), by kind, source, event type and severity.',
      labelNames: ['kind', 'source', 'event_type', 'severity'],
      registers,
    });
    this.active = new Gauge({
      name: 'churnfeat_anomaly_active',
      help: '1 while a detection is firing on the series; the series disappears when it resolves.',
      labelNames: ['kind', 'series', 'source', 'event_type', 'platform', 'severity'],
      registers,
    });
    this.errors = new Counter({
      name: 'churnfeat_quality_detector_errors_total',
      help: 'Failures of the anomaly detector (stage observe: counting or judging; publish: the data-quality topic; history: saving or restoring the seasonal history). The pipeline goes on without it.',
      labelNames: ['stage'],
      registers,
    });
    this.coldStart = new Gauge({
      name: 'churnfeat_quality_cold_start_series',
      help: 'Series without a same-hour-of-week history yet (judged after one week); they never alert.',
      labelNames: ['source'],
      registers,
    });
    this.clock = new Gauge({ name: 'churnfeat_quality_clock_seconds', help: "The detector's event-time clock (unix seconds).", registers });
    this.published = new Counter({ name: 'churnfeat_quality_records_published_total', help: 'Records written to the data-quality topic.', registers });
    this.dropped = new Counter({
      name: 'churnfeat_quality_records_dropped_total',
      help: 'Data-quality records dropped because the publish queue was full (the topic unreachable for long).',
      registers,
    });
    for (const stage of ['observe', 'publish', 'history']) this.errors.inc({ stage }, 0);
  }
}
