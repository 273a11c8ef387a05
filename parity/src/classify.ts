import type { NormalizedEvent, Source } from '../../sidecar/src/events/index.ts';
import type { CompiledFeature } from '../../sidecar/src/features/index.ts';
import { applyOp, encodeOp, readFeature } from '../../sidecar/src/store/index.ts';
import { evaluateFeature, featureInput, featureOps, type FeatureValue } from '../../sidecar/src/windows/index.ts';
import { valuesEqual } from './diff.ts';

/**
 * Why an online value differs from the offline one. Every mismatch gets exactly one:
 * - arrived_after_snapshot: the online state counted events ingested after as_of (the read
 *   ran later than as_of); offline, as of as_of, they had not arrived.
 * - too_late_policy: the online value is what the events give under a different allowed
 *   lateness than dbt's (the two configurations disagree).
 * - dedup_horizon: the online value counts a later copy of an event that dbt drops as a
 *   duplicate (the online dedup entry had expired).
 * - lake_incomplete: the lake had not landed the records the online state had applied.
 * - unexplained: none of the above reproduces the online value: a bug.
 */
export const MISMATCH_CLASSES = ['arrived_after_snapshot', 'too_late_policy', 'dedup_horizon', 'lake_incomplete', 'unexplained'] as const;
export type MismatchClass = (typeof MISMATCH_CLASSES)[number];

/** One lake record of a user, as stg_lake__events holds it. */
export interface LakeEventRow {
  source: Source;
  kafkaPartition: number;
  kafkaOffset: number;
  eventKey: string;
  eventId: string | null;
  userId: string;
  deviceId: string;
  eventType: string;
  attributes: string;
  eventTs: string;
  ingestTs: string;
  eventMs: number;
  ingestMs: number;
}

export interface ClassifyInput {
  feature: CompiledFeature;
  asOfMs: number;
  /** Offsets counted offline for the feature's source: kafka_offset <= limit. */
  offsetLimit: number;
  allowedLatenessMs: number;
  /** The user's lake records (any source). */
  rows: readonly LakeEventRow[];
  online: FeatureValue;
  offline: FeatureValue;
  /** Highest offset the lake has landed on the user's partition of this source; undefined when unknown. */
  lakeLandedThrough?: number | null;
  /** The user's applied offset for the feature's source, from the online read; null when none. */
  appliedOffset: number | null;
  /** The sidecar's allowed lateness when known; otherwise too-late thresholds are searched. */
  onlineAllowedLatenessMs?: number;
  /** The sidecar's dedup margin. Default: 1 h. */
  dedupMarginMs?: number;
  /** Largest ingest_ms in the partition between two offsets (inclusive); evidence for dedup_horizon. */
  maxIngestBetween?: (source: Source, partition: number, fromOffset: number, toOffset: number) => Promise<number | null>;
}

export interface Classification {
  class: MismatchClass;
  explanation: string;
}

interface Selection {
  /** Copies with lateness above this are dropped before dedup (Infinity keeps all). */
  maxLatenessMs: number;
  dedup: boolean;
  offsetLimit: number;
  /** Drop copies ingested after this; null keeps them. */
  ingestCapMs: number | null;
  /** Extra copies counted on top of the dedup result. */
  extra?: readonly LakeEventRow[];
}

const byKafkaOrder = (a: LakeEventRow, b: LakeEventRow): number => a.kafkaPartition - b.kafkaPartition || a.kafkaOffset - b.kafkaOffset;

/** The copies a policy counts, in the order of docs/feature-semantics.md §1 (lateness, then dedup). */
export function selectCopies(rows: readonly LakeEventRow[], selection: Selection): LakeEventRow[] {
  const timely = rows.filter((row) => row.ingestMs - row.eventMs <= selection.maxLatenessMs).sort(byKafkaOrder);
  let kept = timely;
  if (selection.dedup) {
    const seen = new Set<string>();
    kept = timely.filter((row) => {
      if (seen.has(row.eventKey)) return false;
      seen.add(row.eventKey);
      return true;
    });
  }
  const counted = kept.filter((row) => row.kafkaOffset <= selection.offsetLimit && (selection.ingestCapMs === null || row.ingestMs <= selection.ingestCapMs));
  return selection.extra ? [...counted, ...selection.extra] : counted;
}

const normalized = new WeakMap<LakeEventRow, NormalizedEvent>();

function toEvent(row: LakeEventRow): NormalizedEvent {
  let event = normalized.get(row);
  if (!event) {
    event = {
      source: row.source,
      eventId: row.eventId,
      eventKey: row.eventKey,
      userId: row.userId,
      deviceId: row.deviceId,
      eventType: row.eventType,
      eventTs: row.eventTs,
      ingestTs: row.ingestTs,
      eventMs: row.eventMs,
      ingestMs: row.ingestMs,
      attributes: JSON.parse(row.attributes) as Record<string, unknown>,
    };
    normalized.set(row, event);
  }
  return event;
}

function evaluate(feature: CompiledFeature, rows: readonly LakeEventRow[], asOfMs: number): FeatureValue {
  return evaluateFeature(feature, rows.map(toEvent), asOfMs);
}

/**
 * What the online store answers for a read at `asOfMs` after applying `events`, whenever
 * they arrived: the window ops of each event applied to a state hash and read back, with the
 * store's own model of its Redis Functions (sidecar/src/store/store-model.ts, held to the
 * real functions by a property test). Tiles from tile_start(t) - W up to t's own tile are
 * summed whole, and the newest-only fields (latest event time, `last`, each distinct value's
 * newest tile) count only when that newest entry is itself in the window. For a state that
 * holds nothing newer than `asOfMs` this equals the reference semantics; events that arrived
 * after `asOfMs` make it differ.
 */
export function storeRead(feature: CompiledFeature, events: readonly NormalizedEvent[], asOfMs: number): FeatureValue {
  const fields = new Map<string, string>();
  for (const event of events) for (const op of featureOps(feature, event)) applyOp(fields, encodeOp(op));
  return readFeature(feature, fields, asOfMs);
}

function predictOnline(feature: CompiledFeature, rows: readonly LakeEventRow[], asOfMs: number): FeatureValue {
  return storeRead(feature, rows.map(toEvent), asOfMs);
}

function same(feature: CompiledFeature, a: FeatureValue, b: FeatureValue): boolean {
  return valuesEqual(feature, a.value, b.value) && a.latestEventMs === b.latestEventMs;
}

function describeRows(rows: readonly LakeEventRow[]): string {
  const shown = rows
    .slice(0, 3)
    .map((r) => `${r.eventType} at ${new Date(r.eventMs).toISOString()} (partition ${r.kafkaPartition}, offset ${r.kafkaOffset}, ingested ${new Date(r.ingestMs).toISOString()})`);
  return `${shown.join(', ')}${rows.length > 3 ? ` and ${rows.length - 3} more` : ''}`;
}

/**
 * Classifies one mismatch: a class explains it when changing only that policy, within what
 * the evidence allows, reproduces the online value exactly from the user's lake records
 * (through {@link storeRead}). First, the reference semantics must reproduce the offline
 * value from the same records; if they do not, dbt's SQL is wrong: unexplained.
 *
 * Evidence required, so that a lost or corrupted online state is never explained away:
 * - arrived_after_snapshot: copies ingested after as_of exist among the applied offsets;
 * - too_late_policy: the online lateness must admit the record at the user's applied
 *   offset (the sidecar accepted it), and equal `onlineAllowedLatenessMs` when known;
 * - dedup_horizon: the extra copy is timely, and the partition holds, between the first
 *   copy and this one, a record ingested later than the first copy's event time plus the
 *   allowed lateness and the dedup margin (only such a batch prunes the dedup entry).
 */
export async function classifyMismatch(input: ClassifyInput): Promise<Classification> {
  const { feature, asOfMs, offsetLimit, allowedLatenessMs, online, offline } = input;
  const rows = input.rows.filter((row) => row.source === feature.source);
  if (input.lakeLandedThrough !== undefined && (input.lakeLandedThrough === null || offsetLimit > input.lakeLandedThrough)) {
    return { class: 'lake_incomplete', explanation: `online processed up to offset ${offsetLimit}; the lake had landed ${input.lakeLandedThrough ?? 'nothing'} on that partition` };
  }
  const baseline: Selection = { maxLatenessMs: allowedLatenessMs, dedup: true, offsetLimit, ingestCapMs: asOfMs };
  const reference = evaluate(feature, selectCopies(rows, baseline), asOfMs);
  if (!same(feature, reference, offline)) {
    return { class: 'unexplained', explanation: `dbt gives ${JSON.stringify(offline)} but the reference semantics give ${JSON.stringify(reference)} for the same lake records` };
  }

  const uncapped = selectCopies(rows, { ...baseline, ingestCapMs: null });
  const lateArrivals = uncapped.filter((row) => row.ingestMs > asOfMs && featureInput(feature, toEvent(row)) !== null);
  if (lateArrivals.length > 0 && same(feature, predictOnline(feature, uncapped, asOfMs), online)) {
    return { class: 'arrived_after_snapshot', explanation: `online counts ${describeRows(lateArrivals)}, ingested after as_of` };
  }

  const appliedRecord = input.appliedOffset === null ? undefined : rows.find((row) => row.kafkaOffset === input.appliedOffset);
  if (appliedRecord) {
    const floor = appliedRecord.ingestMs - appliedRecord.eventMs;
    const lateness = [...new Set(rows.filter((r) => r.kafkaOffset <= offsetLimit).map((r) => r.ingestMs - r.eventMs))].sort((a, b) => a - b);
    // A threshold t keeps the copies with lateness <= t; between two observed lateness
    // values every threshold keeps the same copies, so one candidate per interval suffices.
    const candidates = (input.onlineAllowedLatenessMs !== undefined ? [input.onlineAllowedLatenessMs] : [...lateness, Infinity]).filter((t) => t >= floor);
    const baselineKeys = selectCopies(rows, baseline)
      .map((r) => `${r.kafkaPartition}:${r.kafkaOffset}`)
      .join(',');
    const reproduces = (threshold: number): boolean => {
      const chosen = selectCopies(rows, { ...baseline, maxLatenessMs: threshold });
      return chosen.map((r) => `${r.kafkaPartition}:${r.kafkaOffset}`).join(',') !== baselineKeys && same(feature, predictOnline(feature, chosen, asOfMs), online);
    };
    // Nearest to dbt's setting first: the smallest drift that explains it.
    const byDistance = [...candidates].sort((a, b) => Math.abs(a - allowedLatenessMs) - Math.abs(b - allowedLatenessMs));
    const hit = byDistance.find(reproduces);
    if (hit !== undefined) {
      // Report the whole interval of settings that reproduce it around the hit.
      const index = candidates.indexOf(hit);
      let low = index;
      let high = index;
      while (low > 0 && reproduces(candidates[low - 1] as number)) low -= 1;
      while (high < candidates.length - 1 && reproduces(candidates[high + 1] as number)) high += 1;
      const from = candidates[low] as number;
      const to = lateness.find((value) => value > (candidates[high] as number));
      const hours = (ms: number): string => (ms === Infinity ? 'inf' : `${(ms / 3_600_000).toFixed(2)} h`);
      return { class: 'too_late_policy', explanation: `online matches an allowed lateness in [${hours(from)}, ${to === undefined ? 'inf' : hours(to)}); dbt uses ${hours(allowedLatenessMs)}` };
    }
  }

  const counted = new Set(selectCopies(rows, baseline));
  const laterCopies = selectCopies(rows, { ...baseline, dedup: false }).filter((row) => !counted.has(row));
  // Evidence is looked up only for a set of copies that reproduces the online value.
  const expired = async (copy: LakeEventRow): Promise<boolean> => {
    const first = [...counted].find((row) => row.eventKey === copy.eventKey) ?? rows.filter((row) => row.eventKey === copy.eventKey).sort(byKafkaOrder)[0];
    if (!first) return false;
    const horizon = first.eventMs + allowedLatenessMs + (input.dedupMarginMs ?? 3_600_000);
    const maxIngest = input.maxIngestBetween ? await input.maxIngestBetween(copy.source, copy.kafkaPartition, first.kafkaOffset, copy.kafkaOffset) : Infinity;
    return maxIngest !== null && maxIngest > horizon;
  };
  for (const extra of laterCopies.length > 0 ? [laterCopies, ...laterCopies.map((row) => [row])] : []) {
    if (!same(feature, predictOnline(feature, selectCopies(rows, { ...baseline, extra }), asOfMs), online)) continue;
    let evidenced = true;
    for (const copy of extra) evidenced = evidenced && (await expired(copy));
    if (evidenced) {
      return { class: 'dedup_horizon', explanation: `online also counts the duplicate ${describeRows(extra)}; its first copy's dedup entry had expired` };
    }
  }
  return { class: 'unexplained', explanation: `no policy difference reproduces online ${JSON.stringify(online)} from the lake (offline ${JSON.stringify(offline)})` };
}
