import { Counter, Registry } from 'prom-client';
import { ConsumerProgress, consumerProgressGauges } from './consumer-progress.ts';

/** The lake writer's Prometheus metrics, in a registry of its own (`churnfeat lake-writer --metrics-port`). */
export class LakeWriterMetrics {
  readonly registry = new Registry();
  private readonly progressGauges = consumerProgressGauges('churnfeat_lake', this.registry);
  /** High watermark minus the lake group's committed offset: includes what is buffered and not landed yet. */
  readonly lag = this.progressGauges.lag;
  readonly lastProgress = this.progressGauges.lastProgress;
  /** Lag and last progress of the lake writer's group, fed by its offset sampler. */
  readonly progress = new ConsumerProgress(this.progressGauges);
  readonly landed = new Counter({ name: 'churnfeat_lake_records_landed_total', help: 'Records landed in the lake, by kind (events, dead_letter).', labelNames: ['kind'], registers: [this.registry] });
  readonly flushes = new Counter({ name: 'churnfeat_lake_flushes_total', help: 'Partition buffers landed (intent, files, manifest, commit).', registers: [this.registry] });
  /** Flushes refused at their claim: another writer of the group had landed (or was landing) the same offsets. */
  readonly fenced = new Counter({
    name: 'churnfeat_lake_flushes_fenced_total',
    help: 'Flushes refused because another lake writer had claimed the same offsets (a rebalance or a frozen writer); nothing landed twice.',
    registers: [this.registry],
  });
}
