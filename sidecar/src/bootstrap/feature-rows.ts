import type { NormalizedEvent } from '../events/index.ts';
import type { CompiledFeature } from '../features/index.ts';
import { dedupTimeMs } from '../store/index.ts';
import { featureInput, featureOps } from '../windows/index.ts';
import type { FeatureRow } from './bootstrap-state.ts';

/**
 * The int_feature_events rows of one record that reaches the apply function, computed by the
 * sidecar's own operators (the features whose ops the record has): what dbt holds for it,
 * for the tests that hold the bootstrap to the store model and for the benchmark's warehouse.
 */
export function featureRowsOf(features: readonly CompiledFeature[], record: { event: NormalizedEvent; topic: string; partition: number; offset: string | number }): FeatureRow[] {
  const { event } = record;
  return features.flatMap((feature) => {
    const input = featureInput(feature, event);
    if (input === null || featureOps(feature, event).length === 0) return [];
    return [
      {
        userId: event.userId,
        featureName: feature.name,
        source: event.source,
        topic: record.topic,
        partition: record.partition,
        offset: Number(record.offset),
        eventKey: event.eventKey,
        eventMs: event.eventMs,
        ingestMs: event.ingestMs,
        dedupMs: dedupTimeMs(event),
        tileStartMs: Math.floor(event.eventMs / feature.granularityMs) * feature.granularityMs,
        fixedValue: input.kind === 'sum' ? input.fixed : null,
        numValue: input.kind === 'min' || input.kind === 'max' ? input.number : null,
        strValue: input.kind === 'count_distinct' || input.kind === 'last' ? input.text : null,
      },
    ];
  });
}
