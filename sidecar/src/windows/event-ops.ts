import type { NormalizedEvent, Source } from '../events/index.ts';
import type { CompiledFeature, FeatureRegistry } from '../features/index.ts';
import { distinctField, encodeLast, latestEventField, lastField, tileField } from '../store/redis-layout.ts';
import { featureInput } from './feature-input.ts';
import { oldestTileIndex, tileIndex } from './tiles.ts';

/**
 * One incremental update of the store: (op, field, value), executed by the Redis function.
 * op: c = add to a tile, n / x = keep the min / max of a tile, d = distinct value's newest tile,
 * l = keep the newest `last` candidate, e = keep the newest counted event time.
 */
export type StoreOp = readonly [op: 'c' | 'n' | 'x' | 'd' | 'l' | 'e', field: string, value: string];

/**
 * The window operators compiled from the registry: for each (source, event type), the
 * features that read it. Holds no per-feature code; everything comes from the definitions.
 */
export class WindowOperators {
  readonly registry: FeatureRegistry;
  private readonly byType = new Map<string, CompiledFeature[]>();

  constructor(registry: FeatureRegistry) {
    this.registry = registry;
    for (const feature of registry.features) {
      for (const type of feature.eventTypes) {
        const key = `${feature.source}/${type}`;
        this.byType.set(key, [...(this.byType.get(key) ?? []), feature]);
      }
    }
  }

  /** Features that may read events of this source and type (before predicates). */
  candidates(source: Source, eventType: string): readonly CompiledFeature[] {
    return this.byType.get(`${source}/${eventType}`) ?? [];
  }

  /** True when at least one feature's filter (type and predicates) selects the event. */
  isRelevant(event: NormalizedEvent): boolean {
    return this.candidates(event.source, event.eventType).some((feature) => featureInput(feature, event) !== null);
  }

  /**
   * The store ops for one event. A feature whose tile for this event is already older than
   * any window a read at ingest time can see gets no op (it could never be counted again).
   */
  opsFor(event: NormalizedEvent): StoreOp[] {
    const ops: StoreOp[] = [];
    for (const feature of this.candidates(event.source, event.eventType)) {
      const input = featureInput(feature, event);
      if (input === null) continue;
      const tile = tileIndex(event.eventMs, feature.granularityMs);
      if (tile < oldestTileIndex(event.ingestMs, feature.windowMs, feature.granularityMs)) continue;
      switch (input.kind) {
        case 'count':
          ops.push(['c', tileField(feature.id, tile), '1']);
          break;
        case 'sum':
          ops.push(['c', tileField(feature.id, tile), String(input.fixed)]);
          break;
        case 'min':
          ops.push(['n', tileField(feature.id, tile), input.text]);
          break;
        case 'max':
          ops.push(['x', tileField(feature.id, tile), input.text]);
          break;
        case 'count_distinct':
          ops.push(['d', distinctField(feature.id, input.text), String(tile)]);
          break;
        case 'last':
          ops.push(['l', lastField(feature.id), encodeLast(event.eventMs, event.eventKey, input.text)]);
          break;
      }
      ops.push(['e', latestEventField(feature.id), String(event.eventMs)]);
    }
    return ops;
  }

  /** "id=oldestTile,..." for pruning state that no read at or after `nowMs` can count. */
  pruneSpec(nowMs: number): string {
    return this.registry.features.map((f) => `${f.id}=${Math.max(0, oldestTileIndex(nowMs, f.windowMs, f.granularityMs))}`).join(',');
  }

  /** Idle time after which a user's state can no longer change any read: longest window + tile + lateness. */
  stateTtlMs(allowedLatenessMs: number): number {
    const longest = Math.max(...this.registry.features.map((f) => f.windowMs + f.granularityMs));
    return longest + allowedLatenessMs + 3_600_000;
  }
}
