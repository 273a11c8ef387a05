import type { Producer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { Canary, CanaryMetrics, canaryUserId, isCanaryUser, planProbes, probeEventBytes, type ProbeReader } from '../../../sidecar/src/canary/index.ts';
import { parseEvent } from '../../../sidecar/src/events/index.ts';
import { topicNames } from '../../../sidecar/src/kafka/index.ts';
import { isValidUserId } from '../../../sidecar/src/serving/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { fixtureRegistry } from '../../helpers/registry.ts';

const registry = fixtureRegistry();

type SentBatch = Parameters<Producer['sendBatch']>[0];

/** A producer that records batches (or fails), and a reader that shows each probe after `delayPolls` polls. */
function fakes(options: { failProduce?: boolean; neverReadable?: Set<string>; delayPolls?: number; unknownPartitions?: Set<string> } = {}) {
  const sent: SentBatch[] = [];
  const produced = new Map<string, number>();
  const polls = new Map<string, number>();
  const producer = {
    sendBatch: async (batch: SentBatch) => {
      if (options.failProduce) throw new Error('broker down');
      sent.push(batch);
      const acks: Array<{ topicName: string; partition: number; errorCode: number }> = [];
      for (const { topic, messages } of batch.topicMessages ?? []) {
        for (const m of messages) {
          // kafkajs drops, silently, messages for a partition its metadata does not know yet
          if (options.unknownPartitions?.has(`${topic}:${m.partition}`)) continue;
          const event = JSON.parse(String(m.value)) as { user_id: string; event_ts: string };
          produced.set(event.user_id, Date.parse(event.event_ts));
          acks.push({ topicName: topic, partition: m.partition ?? -1, errorCode: 0 });
        }
      }
      return acks;
    },
  } as unknown as Producer;
  const reader: ProbeReader = {
    latestEventMs: async (userIds) =>
      userIds.map((id) => {
        const seen = (polls.get(id) ?? 0) + 1;
        polls.set(id, seen);
        if (options.neverReadable?.has(id) || seen <= (options.delayPolls ?? 0)) return null;
        return produced.get(id) ?? null;
      }),
  };
  return { producer, reader, sent };
}

describe('canary probe plan', () => {
  it('probes each source through the longest count feature without predicates', () => {
    const { plans, skipped } = planProbes(registry);
    expect(skipped).toEqual([]);
    expect(plans.map((p) => `${p.source}:${p.eventType}->${p.feature.name}`)).toEqual([
      'client:playback_error->errors_last_1h',
      'billing:payment_failed->payment_failures_last_7d',
      'support:ticket_created->support_tickets_last_30d',
    ]);
  });

  it('sends probes the sidecar applies: valid against the contract and read by the feature', () => {
    const operators = new WindowOperators(registry);
    for (const plan of planProbes(registry).plans) {
      const parsed = parseEvent(plan.source, probeEventBytes(plan, canaryUserId(plan.source, 7), Date.now(), 'probe-1'));
      expect(parsed.ok).toBe(true);
      if (!parsed.ok) continue;
      expect(operators.isRelevant(parsed.event)).toBe(true);
      expect(operators.opsFor(parsed.event).some((op) => op.featureId === plan.feature.id)).toBe(true);
    }
  });

  it('uses reserved user ids that pass the user id format and are recognisable', () => {
    for (const id of [canaryUserId('client', 0), canaryUserId('support', 255)]) {
      expect(isValidUserId(id)).toBe(true);
      expect(isCanaryUser(id)).toBe(true);
    }
    expect(isCanaryUser('u-1')).toBe(false);
  });
});

describe('Canary', () => {
  const topics = topicNames('test');
  const counts = async () => ({ client: 3, billing: 2, support: 1 });

  it('writes one probe to every partition with an explicit partition and the canary user as key', async () => {
    const { producer, reader, sent } = fakes();
    const metrics = new CanaryMetrics();
    const results = await new Canary({ producer, topics, registry, reader, metrics, partitionCounts: counts, pollIntervalMs: 1 }).runOnce();
    const messages = sent[0]?.topicMessages?.flatMap((t) => t.messages.map((m) => `${t.topic}#${m.partition}:${m.key}`));
    expect(messages).toEqual([
      'test.client.events#0:__canary__-client-0',
      'test.client.events#1:__canary__-client-1',
      'test.client.events#2:__canary__-client-2',
      'test.billing.events#0:__canary__-billing-0',
      'test.billing.events#1:__canary__-billing-1',
      'test.support.events#0:__canary__-support-0',
    ]);
    expect(results.every((r) => r.outcome === 'readable')).toBe(true);
    const histogram = await metrics.registry.getSingleMetricAsString('churnfeat_canary_readable_seconds');
    expect(histogram).toContain('churnfeat_canary_readable_seconds_count{source="client"} 3');
    expect(histogram).toContain('churnfeat_canary_readable_seconds_count{source="support"} 1');
  });

  it('keeps polling until a probe shows up, then records the delay', async () => {
    let now = 1_000_000;
    const { producer, reader } = fakes({ delayPolls: 3 });
    const results = await new Canary({
      producer,
      topics,
      registry,
      reader,
      metrics: new CanaryMetrics(),
      partitionCounts: async () => ({ support: 1 }),
      pollIntervalMs: 1,
      clock: () => (now += 250),
    }).runOnce();
    expect(results).toHaveLength(1);
    expect(results[0]?.outcome).toBe('readable');
    expect(results[0]?.seconds).toBeGreaterThan(0.5);
  });

  it('counts a probe that never becomes readable as a timeout, and the others as readable', async () => {
    let now = 0;
    const { producer, reader } = fakes({ neverReadable: new Set(['__canary__-client-1']) });
    const metrics = new CanaryMetrics();
    const results = await new Canary({ producer, topics, registry, reader, metrics, partitionCounts: counts, timeoutMs: 5_000, pollIntervalMs: 1, clock: () => (now += 1_000) }).runOnce();
    expect(results.filter((r) => r.outcome === 'timeout').map((r) => r.userId)).toEqual(['__canary__-client-1']);
    const probes = await metrics.registry.getSingleMetricAsString('churnfeat_canary_probes_total');
    expect(probes).toContain('churnfeat_canary_probes_total{source="client",outcome="timeout"} 1');
    expect(probes).toContain('churnfeat_canary_probes_total{source="client",outcome="readable"} 2');
    expect(await metrics.registry.getSingleMetricAsString('churnfeat_canary_last_readable_seconds')).toContain('churnfeat_canary_last_readable_seconds{source="client",partition="1"} -1');
  });

  it('counts a probe the producer did not acknowledge (a partition unknown to its metadata) as produce_error at once, not as a timeout', async () => {
    const { producer, reader } = fakes({ unknownPartitions: new Set([`${topics.sources.billing}:1`]) });
    const metrics = new CanaryMetrics();
    const lines: string[] = [];
    const results = await new Canary({ producer, topics, registry, reader, metrics, partitionCounts: counts, timeoutMs: 60_000, pollIntervalMs: 1, log: (l) => lines.push(l) }).runOnce();
    expect(results.filter((r) => r.outcome !== 'readable').map((r) => `${r.source}:${r.partition} ${r.outcome}`)).toEqual(['billing:1 produce_error']);
    expect(lines.join('\n')).toContain('not acknowledged');
    expect(lines.join('\n')).toContain('billing:1');
  });

  it('counts every probe as produce_error when Kafka refuses the batch', async () => {
    const { producer, reader } = fakes({ failProduce: true });
    const metrics = new CanaryMetrics();
    const lines: string[] = [];
    const results = await new Canary({ producer, topics, registry, reader, metrics, partitionCounts: counts, log: (l) => lines.push(l) }).runOnce();
    expect(results).toHaveLength(6);
    expect(results.every((r) => r.outcome === 'produce_error')).toBe(true);
    expect(lines[0]).toContain('broker down');
    expect(await metrics.registry.getSingleMetricAsString('churnfeat_canary_probes_total')).toContain('churnfeat_canary_probes_total{source="billing",outcome="produce_error"} 2');
  });
});
