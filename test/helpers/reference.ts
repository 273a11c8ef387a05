/**
 * Helpers shared by the correctness tests: raw events, the reference pipeline (the executable
 * spec of sidecar/src/windows/semantics-spec.ts: the verdicts of docs/feature-semantics.md §1
 * for records in Kafka order, then evaluateFeature), and comparison of online reads with it.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { onTestFinished } from 'vitest';
import { parseEvent, type NormalizedEvent, type Source } from '../../sidecar/src/events/index.ts';
import type { FeatureRegistry } from '../../sidecar/src/features/index.ts';
import type { RecordVerdict } from '../../sidecar/src/metrics/index.ts';
import { FeatureReader, FeatureWriter, type StoreRecord, type StoreVerdict } from '../../sidecar/src/store/index.ts';
import { evaluateFeature, judgeRecords, WindowOperators } from '../../sidecar/src/windows/index.ts';
import { unlinkPrefix } from './redis.ts';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
export const ALLOWED_LATENESS_MS = DAY;
export const DEDUP_MARGIN_MS = HOUR;

const SOURCE_OF_TYPE: Record<string, Source> = {
  payment_failed: 'billing',
  payment_retried: 'billing',
  payment_succeeded: 'billing',
  ticket_created: 'support',
  ticket_resolved: 'support',
  sentiment_score: 'support',
};

/** The source topic an event type belongs to. */
export function sourceOf(eventType: string): Source {
  return SOURCE_OF_TYPE[eventType] ?? 'client';
}

export interface EventSpec {
  /** null or undefined: an id-less (TV) event keyed by its fingerprint. */
  eventId?: string | null;
  userId: string;
  deviceId?: string;
  eventType: string;
  /** Device clock: epoch ms, or the exact string to send. */
  eventTs: number | string;
  ingestMs: number;
  attributes?: Record<string, unknown>;
}

/** The exact bytes a producer would send for `spec`. */
export function rawEvent(spec: EventSpec): Buffer {
  const body: Record<string, unknown> = {};
  if (spec.eventId) body.event_id = spec.eventId;
  body.user_id = spec.userId;
  body.device_id = spec.deviceId ?? `dev-${spec.userId}`;
  body.event_type = spec.eventType;
  body.event_ts = typeof spec.eventTs === 'number' ? new Date(spec.eventTs).toISOString() : spec.eventTs;
  body.ingest_ts = new Date(spec.ingestMs).toISOString();
  body.attributes = spec.attributes ?? defaultAttributes(spec.eventType);
  return Buffer.from(JSON.stringify(body));
}

/** Minimal attributes that satisfy the contract of each event type. */
export function defaultAttributes(eventType: string): Record<string, unknown> {
  switch (eventType) {
    case 'playback_start':
      return { content_id: 'title-1' };
    case 'playback_error':
      return { error_code: 'E1001' };
    case 'playback_heartbeat':
      return { watched_seconds: 30 };
    case 'payment_failed':
    case 'payment_retried':
    case 'payment_succeeded':
      return { amount: 9.99, currency: 'USD' };
    case 'ticket_created':
    case 'ticket_resolved':
      return { ticket_id: 'T-1' };
    case 'sentiment_score':
      return { ticket_id: 'T-1', score: 0.5 };
    default:
      return {};
  }
}

/** One record as the pipeline sees it: source topic, value bytes, Kafka position. */
export interface PositionedRecord {
  source: Source;
  value: Buffer | null;
  partition: number;
  offset: number;
}

/** The reference pipeline's answer for records given in Kafka order. */
export interface ReferenceOutcome {
  verdicts: RecordVerdict[];
  /** The events that end up applied (the first timely copy of each event key). */
  applied: NormalizedEvent[];
  counts: Record<RecordVerdict, number>;
}

/**
 * The spec's verdicts (judgeRecords) for records in Kafka order (per user and source they
 * share one partition, so one global order suffices), with counts per verdict.
 */
export function referencePipeline(operators: WindowOperators, records: readonly PositionedRecord[], allowedLatenessMs = ALLOWED_LATENESS_MS): ReferenceOutcome {
  const { verdicts, applied } = judgeRecords(operators.registry.features, records, allowedLatenessMs);
  const counts: Record<RecordVerdict, number> = { applied: 0, duplicate: 0, replayed: 0, deleted: 0, too_late: 0, invalid: 0, irrelevant: 0 };
  for (const verdict of verdicts) counts[verdict] += 1;
  return { verdicts, applied, counts };
}

/** A user's feature values in the shape both sides are compared in. */
export type FeatureReads = Record<string, { value: number | string | null; latest_event_ms: number | null }>;

/** What the reference evaluator says every user's features are at `asOfMs`. */
export function referenceReads(registry: FeatureRegistry, applied: readonly NormalizedEvent[], userIds: readonly string[], asOfMs: number): Map<string, FeatureReads> {
  return readsByUser(registry, eventsByUser(applied), userIds, asOfMs);
}

function eventsByUser(applied: readonly NormalizedEvent[]): Map<string, NormalizedEvent[]> {
  const byUser = new Map<string, NormalizedEvent[]>();
  for (const event of applied) {
    const list = byUser.get(event.userId) ?? [];
    list.push(event);
    byUser.set(event.userId, list);
  }
  return byUser;
}

function readsByUser(registry: FeatureRegistry, byUser: ReadonlyMap<string, readonly NormalizedEvent[]>, userIds: readonly string[], asOfMs: number): Map<string, FeatureReads> {
  const out = new Map<string, FeatureReads>();
  for (const userId of userIds) {
    const events = byUser.get(userId) ?? [];
    const reads: FeatureReads = {};
    for (const feature of registry.features) {
      const value = evaluateFeature(feature, events, asOfMs);
      reads[feature.name] = { value: value.value, latest_event_ms: value.latestEventMs };
    }
    out.set(userId, reads);
  }
  return out;
}

/** What the online store answers for every user at `asOfMs`. */
export async function onlineReads(reader: FeatureReader, userIds: readonly string[], asOfMs: number): Promise<Map<string, FeatureReads>> {
  const out = new Map<string, FeatureReads>();
  for (let start = 0; start < userIds.length; start += 500) {
    const chunk = userIds.slice(start, start + 500);
    const reads = await reader.readMany(chunk, asOfMs);
    chunk.forEach((userId, index) => out.set(userId, (reads[index] as { features: FeatureReads }).features));
  }
  return out;
}

/** One line per (user, feature, field) where two answers differ; empty when they agree. */
export function diffReads(expected: Map<string, FeatureReads>, actual: Map<string, FeatureReads>, labels = ['expected', 'actual']): string[] {
  const out: string[] = [];
  const users = [...new Set([...expected.keys(), ...actual.keys()])].sort();
  for (const user of users) {
    const a = expected.get(user) ?? {};
    const b = actual.get(user) ?? {};
    for (const name of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const x = a[name];
      const y = b[name];
      if (x?.value !== y?.value) out.push(`${user} ${name}: ${labels[0]} ${x?.value} ${labels[1]} ${y?.value}`);
      if (x?.latest_event_ms !== y?.latest_event_ms) out.push(`${user} ${name} latest_event_ms: ${labels[0]} ${x?.latest_event_ms} ${labels[1]} ${y?.latest_event_ms}`);
    }
  }
  return out;
}

/**
 * Double counts and missing counts between two answers, over the additive features
 * (count and sum): the sum of positive and of negative differences.
 */
export function countDrift(registry: FeatureRegistry, expected: Map<string, FeatureReads>, actual: Map<string, FeatureReads>): { doubleCounts: number; missing: number } {
  let doubleCounts = 0;
  let missing = 0;
  for (const [user, reads] of expected) {
    for (const feature of registry.features) {
      if (feature.aggregation !== 'count' && feature.aggregation !== 'sum') continue;
      const want = Number(reads[feature.name]?.value ?? 0);
      const got = Number(actual.get(user)?.[feature.name]?.value ?? 0);
      if (got > want) doubleCounts += got - want;
      if (got < want) missing += want - got;
    }
  }
  return { doubleCounts, missing };
}

/**
 * A workload consumed on one partition by the reference pipeline, compared with what the
 * online store answers for every user of it, just after its last record: the reference,
 * the diff lines, and the double and missing counts.
 */
export async function compareWithReference(
  operators: WindowOperators,
  workload: ReadonlyArray<{ source: Source; value: Buffer; key: string; ingestMs: number }>,
  reader: FeatureReader,
): Promise<{ reference: ReferenceOutcome; users: string[]; diff: string[]; drift: { doubleCounts: number; missing: number } }> {
  const reference = referencePipeline(
    operators,
    workload.map((r, offset) => ({ source: r.source, value: r.value, partition: 0, offset })),
  );
  const users = [...new Set(workload.map((r) => r.key))].sort();
  const asOf = Math.max(...workload.map((r) => r.ingestMs)) + 7 * 60_000 + 13_000;
  const expected = referenceReads(operators.registry, reference.applied, users, asOf);
  const online = await onlineReads(reader, users, asOf);
  return { reference, users, diff: diffReads(expected, online, ['reference', 'online']), drift: countDrift(operators.registry, expected, online) };
}

/** A Redis key prefix of its own; its keys are deleted when the test ends. */
export function testPrefix(redis: Redis, label = 'p'): string {
  const prefix = `${label}${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  onTestFinished(() => unlinkPrefix(redis, prefix));
  return prefix;
}

/**
 * Sends records to the store the way BatchProcessor does (parse, relevance, lateness, ops),
 * straight through a FeatureWriter: one `write` per batch. `topicOf` names the source topic.
 * Returns each record's verdict (store verdicts for records that reached the store).
 */
export async function writeDirect(
  writer: FeatureWriter,
  operators: WindowOperators,
  batches: ReadonlyArray<readonly PositionedRecord[]>,
  topicOf: (source: Source) => string,
  allowedLatenessMs = ALLOWED_LATENESS_MS,
): Promise<RecordVerdict[]> {
  const out: RecordVerdict[] = [];
  for (const batch of batches) {
    const verdicts: RecordVerdict[] = new Array(batch.length);
    const toStore: StoreRecord[] = [];
    const where: number[] = [];
    batch.forEach((record, index) => {
      const parsed = parseEvent(record.source, record.value);
      if (!parsed.ok) {
        verdicts[index] = 'invalid';
        return;
      }
      const event = parsed.event;
      if (!operators.isRelevant(event)) {
        verdicts[index] = 'irrelevant';
        return;
      }
      if (event.ingestMs - event.eventMs > allowedLatenessMs) {
        verdicts[index] = 'too_late';
        return;
      }
      const ops = operators.opsFor(event);
      if (ops.length === 0) {
        verdicts[index] = 'irrelevant';
        return;
      }
      toStore.push({ event, topic: topicOf(record.source), partition: record.partition, offset: String(record.offset), ops });
      where.push(index);
    });
    if (toStore.length > 0) {
      const stored: StoreVerdict[] = await writer.write(toStore);
      stored.forEach((verdict, k) => {
        verdicts[where[k] as number] = verdict;
      });
    }
    out.push(...verdicts);
  }
  return out;
}

/**
 * The reference of a registry version over workload records in Kafka order (one global order:
 * per user and source they share a partition): every user's reads at any instant.
 */
export function referenceOf(registry: FeatureRegistry, records: ReadonlyArray<{ source: Source; value: Buffer }>): (users: readonly string[], asOfMs: number) => Map<string, FeatureReads> {
  const { applied } = referencePipeline(
    new WindowOperators(registry),
    records.map((r, offset) => ({ source: r.source, value: r.value, partition: 0, offset })),
  );
  // grouped once: a caller asks for one user at a time (every polled answer), and per call
  // the grouping of every applied event cost more than the evaluation
  const byUser = eventsByUser(applied);
  return (users, asOfMs) => readsByUser(registry, byUser, users, asOfMs);
}
