import type { Producer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { parseEvent } from '../../../sidecar/src/events/index.ts';
import { topicNames } from '../../../sidecar/src/kafka/index.ts';
import { PipelineMetrics } from '../../../sidecar/src/metrics/index.ts';
import { BatchProcessor, type SourceRecord } from '../../../sidecar/src/pipeline/index.ts';
import type { FeatureWriter, StoreRecord, StoreVerdict } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { validBytes } from '../../helpers/events.ts';
import { fixtureRegistry } from '../../helpers/registry.ts';

const registry = fixtureRegistry();
const topics = topicNames('unit');
const INGEST = '2024-03-01T10:00:01.000Z';
const hoursBefore = (hours: number): string => new Date(Date.parse(INGEST) - hours * 3_600_000).toISOString();

type Step = { kind: 'send'; topic: string; messages: Array<{ key: unknown; value: unknown; headers: Record<string, string> }> } | { kind: 'write'; records: StoreRecord[] };

/** A producer and a store writer that log every call, in order; the writer answers `verdicts`. */
function fakes(verdicts: StoreVerdict[], options: { failSend?: boolean } = {}) {
  const steps: Step[] = [];
  const producer = {
    send: async ({ topic, messages }: { topic: string; messages: Array<{ key: unknown; value: unknown; headers: Record<string, string> }> }) => {
      if (options.failSend) throw new Error('broker down');
      steps.push({ kind: 'send', topic, messages });
      return [];
    },
  } as unknown as Producer;
  const writer = {
    write: async (records: StoreRecord[]) => {
      steps.push({ kind: 'write', records });
      return verdicts.slice(0, records.length);
    },
  } as unknown as FeatureWriter;
  const processor = new BatchProcessor(new WindowOperators(registry), writer, producer, topics, new PipelineMetrics(), {
    allowedLatenessMs: registry.policies.allowedLatenessMs,
    maxPayloadBytes: 65_536,
  });
  return { steps, processor };
}

function records(values: Array<Buffer | null>): SourceRecord[] {
  return values.map((value, i) => ({ topic: topics.sources.client, partition: 3, offset: String(100 + i), timestamp: String(Date.parse(INGEST)), key: Buffer.from(`user-${i}`), value }));
}

const NOT_JSON = Buffer.from('{"event_id": ');
const batch = records([
  validBytes('client', 'playback_error', { event_id: 'applied-1', ingest_ts: INGEST }),
  NOT_JSON,
  validBytes('client', 'search', { event_id: 'no-feature-reads-search', ingest_ts: INGEST }),
  validBytes('client', 'playback_error', { event_id: 'too-late', event_ts: hoursBefore(30), ingest_ts: INGEST }),
  validBytes('client', 'playback_error', { event_id: 'duplicate-1', ingest_ts: INGEST }),
  validBytes('client', 'playback_error', { event_id: 'outside-every-window', event_ts: hoursBefore(5), ingest_ts: INGEST }),
  validBytes('client', 'playback_heartbeat', { event_id: 'replayed-1', ingest_ts: INGEST }),
]);

describe('the batch verdict order (BatchProcessor.process)', () => {
  it("dead-letters invalid records, drops irrelevant ones, sends too-late ones to the late topic, and counts the store's verdicts for the rest", async () => {
    const { steps, processor } = fakes(['applied', 'duplicate', 'replayed']);
    const counts = await processor.process('client', batch);
    expect(counts).toEqual({ invalid: 1, irrelevant: 2, too_late: 1, applied: 1, duplicate: 1, replayed: 1, deleted: 0 });
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(batch.length);

    const sends = steps.filter((s) => s.kind === 'send');
    const dead = sends.find((s) => s.topic === topics.deadLetter);
    const late = sends.find((s) => s.topic === topics.late);
    const parsed = parseEvent('client', NOT_JSON);
    expect(parsed.ok).toBe(false);
    expect(dead?.messages).toHaveLength(1);
    expect(dead?.messages[0]?.headers).toMatchObject({ 'churnfeat.reason': parsed.ok ? '' : parsed.reason, 'churnfeat.source.offset': '101', 'churnfeat.source.topic': topics.sources.client });
    expect(late?.messages).toHaveLength(1);
    expect(late?.messages[0]?.headers).toMatchObject({ 'churnfeat.reason': 'too_late', 'churnfeat.lateness_ms': String(30 * 3_600_000), 'churnfeat.source.offset': '103' });

    const write = steps.find((s) => s.kind === 'write');
    expect(write?.kind === 'write' && write.records.map((r) => [r.offset, r.event.eventId])).toEqual([
      ['100', 'applied-1'],
      ['104', 'duplicate-1'],
      ['106', 'replayed-1'],
    ]);
  });

  it('sends the side topics before it writes to the store', async () => {
    const { steps, processor } = fakes(['applied', 'applied', 'applied']);
    await processor.process('client', batch);
    expect(steps.map((s) => (s.kind === 'send' ? `send ${s.topic}` : 'write'))).toEqual([`send ${topics.deadLetter}`, `send ${topics.late}`, 'write']);
  });

  it('writes nothing to the store when a side topic cannot be written (the batch is retried, nothing is lost)', async () => {
    const { steps, processor } = fakes(['applied', 'applied', 'applied'], { failSend: true });
    await expect(processor.process('client', batch)).rejects.toThrow('broker down');
    expect(steps.filter((s) => s.kind === 'write')).toEqual([]);
  });

  it('sends nothing to the side topics and skips the store for a batch of irrelevant records', async () => {
    const { steps, processor } = fakes([]);
    const counts = await processor.process('client', records([validBytes('client', 'search', { ingest_ts: INGEST })]));
    expect(counts).toMatchObject({ irrelevant: 1, applied: 0, invalid: 0, too_late: 0 });
    expect(steps).toEqual([]);
  });
});
