import type { Producer } from 'kafkajs';
import type { Redis } from 'ioredis';
import { DEFAULT_OPTIONS } from '../../sidecar/src/config/index.ts';
import { parseEvent } from '../../sidecar/src/events/index.ts';
import type { FeatureRegistry } from '../../sidecar/src/features/index.ts';
import { LOCAL_PARTITIONS, topicNames } from '../../sidecar/src/kafka/index.ts';
import type { StreamRecord } from '../../sidecar/src/loadgen/index.ts';
import { PipelineMetrics } from '../../sidecar/src/metrics/index.ts';
import { BatchProcessor, type SourceRecord } from '../../sidecar/src/pipeline/index.ts';
import { FeatureWriter, loadFunctionLibrary, type StoreRecord } from '../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../sidecar/src/windows/index.ts';
import { deleteKeys } from './redis-stats.ts';

/** CPU of one in-process stage of the sidecar, per event, measured in this (otherwise idle) process. */
export interface StageCost {
  events: number;
  batchSize: number;
  cpuMicrosPerEvent: number;
  eventsPerCpuSecond: number;
}

export interface StageCosts {
  /** FeatureWriter.write alone (arguments, ioredis pipeline, replies) on parsed events. */
  writer: StageCost;
  /** BatchProcessor.process (parse, operators, writer, metrics) on raw records: the sidecar minus Kafka. */
  processor: StageCost;
}

/** Kafka records as the sidecar hands them to the processor: per source, spread over the local partitions. */
function asSourceRecords(records: readonly StreamRecord[], topic: (source: StreamRecord['source']) => string): Map<string, SourceRecord[]> {
  const offsets = new Map<string, number>();
  const out = new Map<string, SourceRecord[]>();
  for (const record of records) {
    const partitions = record.source === 'client' ? LOCAL_PARTITIONS.client : LOCAL_PARTITIONS.billing;
    let h = 0;
    for (let i = 0; i < record.key.length; i++) h = (Math.imul(h, 31) + record.key.charCodeAt(i)) | 0;
    const partition = Math.abs(h) % partitions;
    const key = `${record.source}:${partition}`;
    const offset = offsets.get(key) ?? 0;
    offsets.set(key, offset + 1);
    let list = out.get(key);
    if (!list) out.set(key, (list = []));
    list.push({ topic: topic(record.source), partition, offset: String(offset), timestamp: String(record.ingestMs), key: Buffer.from(record.key), value: record.value });
  }
  return out;
}

/** Splits per-partition record lists into batches of `size`, interleaving partitions as fetches do. */
function batches<T>(lists: Iterable<T[]>, size: number): T[][] {
  const queues = [...lists].map((list) => ({ list, at: 0 }));
  const out: T[][] = [];
  for (let more = true; more;) {
    more = false;
    for (const q of queues) {
      if (q.at >= q.list.length) continue;
      out.push(q.list.slice(q.at, q.at + size));
      q.at += size;
      more = true;
    }
  }
  return out;
}

async function timed(run: () => Promise<void>): Promise<number> {
  const before = process.cpuUsage();
  await run();
  const cpu = process.cpuUsage(before);
  return (cpu.user + cpu.system) / 1e6;
}

/**
 * Measures the sidecar's in-process stages on the benchmark's events against the real
 * Redis, with batches of `batchSize` records per partition (about what one Kafka fetch of
 * 1 KB events gives the sidecar). Each stage gets keys of its own, deleted afterwards.
 */
export async function measureStages(redis: Redis, registry: FeatureRegistry, records: readonly StreamRecord[], keyPrefix: string, batchSize: number): Promise<StageCosts> {
  const operators = new WindowOperators(registry);
  const options = { allowedLatenessMs: registry.policies.allowedLatenessMs, dedupMarginMs: registry.policies.dedupMarginMs, pruneAboveFields: DEFAULT_OPTIONS.pruneAboveFields };
  const topics = topicNames(`${keyPrefix}.stage`);
  const bySource = asSourceRecords(records, (source) => topics.sources[source]);

  // Writer: parse and compute ops first (not timed), then time the writes.
  const writerPrefix = `${keyPrefix}.stagew`;
  await loadFunctionLibrary(redis, registry, writerPrefix);
  const writer = new FeatureWriter(redis, operators, { prefix: writerPrefix, ...options });
  const storeLists: StoreRecord[][] = [];
  for (const list of bySource.values()) {
    const store: StoreRecord[] = [];
    for (const r of list) {
      const parsed = parseEvent(r.topic.includes('.client.') ? 'client' : r.topic.includes('.billing.') ? 'billing' : 'support', r.value);
      if (!parsed.ok || !operators.isRelevant(parsed.event) || parsed.event.ingestMs - parsed.event.eventMs > options.allowedLatenessMs) continue;
      const ops = operators.opsFor(parsed.event);
      if (ops.length > 0) store.push({ event: parsed.event, topic: r.topic, partition: r.partition, offset: r.offset, ops });
    }
    storeLists.push(store);
  }
  const writeBatches = batches(storeLists, batchSize);
  const writeEvents = writeBatches.reduce((n, b) => n + b.length, 0);
  const writerCpu = await timed(async () => {
    for (const batch of writeBatches) await writer.write(batch);
  });
  await deleteKeys(redis, writerPrefix);

  // Processor: raw records in, as the sidecar's onBatch hands them over.
  const processorPrefix = `${keyPrefix}.stagep`;
  await loadFunctionLibrary(redis, registry, processorPrefix);
  const processor = new BatchProcessor(
    operators,
    new FeatureWriter(redis, operators, { prefix: processorPrefix, ...options }),
    { send: async () => [] } as unknown as Producer,
    topics,
    new PipelineMetrics(),
    {
      allowedLatenessMs: options.allowedLatenessMs,
      maxPayloadBytes: DEFAULT_OPTIONS.maxPayloadBytes,
    },
  );
  const rawBatches = batches(bySource.values(), batchSize);
  const processorCpu = await timed(async () => {
    for (const batch of rawBatches) {
      const first = batch[0] as SourceRecord;
      await processor.process(first.topic.includes('.client.') ? 'client' : first.topic.includes('.billing.') ? 'billing' : 'support', batch);
    }
  });
  await deleteKeys(redis, processorPrefix);
  const cost = (events: number, cpu: number): StageCost => ({ events, batchSize, cpuMicrosPerEvent: Math.round((cpu * 1e8) / events) / 100, eventsPerCpuSecond: Math.round(events / cpu) });
  return { writer: cost(writeEvents, writerCpu), processor: cost(records.length, processorCpu) };
}
