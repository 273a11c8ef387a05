import type { NormalizedEvent, Source } from '../events/index.ts';
import type { CompiledFeature, FeatureRegistry } from '../features/index.ts';
import { featureInput } from './feature-input.ts';
import { oldestTileIndex, tileIndex } from './tiles.ts';

/**
 * One incremental update of a feature's state, independent of how a store keeps it
 * (store/store-protocol.ts encodes it for the Redis Functions):
 * - add: add an integer to a tile (count: 1; sum: the fixed-point value);
 * - min / max: keep the smaller / larger number of a tile;
 * - distinct: remember the newest tile a distinct value was seen in;
 * - last: keep the newest candidate by (event_ms, event key);
 * - latest: keep the newest event time the feature counted.
 */
export type WindowOp =
  | { readonly kind: 'add'; readonly featureId: string; readonly tile: number; readonly amount: number }
  | { readonly kind: 'min' | 'max'; readonly featureId: string; readonly tile: number; readonly value: string }
  | { readonly kind: 'distinct'; readonly featureId: string; readonly value: string; readonly tile: number }
  | { readonly kind: 'last'; readonly featureId: string; readonly eventMs: number; readonly eventKey: string; readonly value: string }
  | { readonly kind: 'latest'; readonly featureId: string; readonly eventMs: number };

/** The oldest tile of a feature a read at some time can still count; anything older may be dropped. */
export interface TileBound {
  featureId: string;
  oldestTile: number;
}

/**
 * The ops of one feature for one event: none when the feature does not read the event, or
 * when the event's tile is already older than any window a read at ingest time can see (it
 * could never be counted again).
 */
export function featureOps(feature: CompiledFeature, event: NormalizedEvent): WindowOp[] {
  const input = featureInput(feature, event);
  if (input === null) return [];
  const tile = tileIndex(event.eventMs, feature.granularityMs);
  if (tile < oldestTileIndex(event.ingestMs, feature.windowMs, feature.granularityMs)) return [];
  const featureId = feature.id;
  const latest: WindowOp = { kind: 'latest', featureId, eventMs: event.eventMs };
  switch (input.kind) {
    case 'count':
      return [{ kind: 'add', featureId, tile, amount: 1 }, latest];
    case 'sum':
      return [{ kind: 'add', featureId, tile, amount: input.fixed }, latest];
    case 'min':
    case 'max':
      return [{ kind: input.kind, featureId, tile, value: input.text }, latest];
    case 'count_distinct':
      return [{ kind: 'distinct', featureId, value: input.text, tile }, latest];
    case 'last':
      return [{ kind: 'last', featureId, eventMs: event.eventMs, eventKey: event.eventKey, value: input.text }, latest];
  }
}

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

  /** The ops of every feature for one event, feature by feature in registry order (see {@link featureOps}). */
  opsFor(event: NormalizedEvent): WindowOp[] {
    const ops: WindowOp[] = [];
    for (const feature of this.candidates(event.source, event.eventType)) ops.push(...featureOps(feature, event));
    return ops;
  }

  /** Per feature, the oldest tile a read at or after `nowMs` can count (never below 0). */
  tileBounds(nowMs: number): TileBound[] {
    return this.registry.features.map((f) => ({ featureId: f.id, oldestTile: Math.max(0, oldestTileIndex(nowMs, f.windowMs, f.granularityMs)) }));
  }

  /** Idle time after which a user's state can no longer change any read: longest window + tile + lateness. */
  stateTtlMs(allowedLatenessMs: number): number {
    const longest = Math.max(...this.registry.features.map((f) => f.windowMs + f.granularityMs));
    return longest + allowedLatenessMs + 3_600_000;
  }
}
