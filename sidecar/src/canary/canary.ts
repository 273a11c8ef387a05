import { randomBytes } from 'node:crypto';
import type { Admin, Producer } from 'kafkajs';
import type { Source } from '../events/index.ts';
import type { FeatureRegistry } from '../features/index.ts';
import type { TopicNames } from '../kafka/index.ts';
import type { CanaryMetrics, ProbeOutcome } from './canary-metrics.ts';
import { canaryUserId, planProbes, probeEventBytes, type ProbePlan } from './probe-plan.ts';
import type { ProbeReader } from './probe-readers.ts';

/** The fate of one probe. */
export interface ProbeResult {
  source: Source;
  partition: number;
  userId: string;
  outcome: ProbeOutcome;
  /** Sent -> readable, for readable probes; null otherwise. */
  seconds: number | null;
}

export interface CanaryOptions {
  producer: Producer;
  topics: TopicNames;
  registry: FeatureRegistry;
  reader: ProbeReader;
  metrics: CanaryMetrics;
  /** Partitions of each source topic, asked before every round (see partitionCountsFromAdmin). */
  partitionCounts: () => Promise<Partial<Record<Source, number>>>;
  /** A probe not readable after this long counts as a timeout. Default: 300000 (5 min). */
  timeoutMs?: number;
  /** Poll period of the read path while probes are pending. Default: 200 ms. */
  pollIntervalMs?: number;
  clock?: () => number;
  log?: (line: string) => void;
}

/** Partition counts from the cluster's metadata. */
export function partitionCountsFromAdmin(admin: Admin, topics: TopicNames, sources: readonly Source[]): () => Promise<Partial<Record<Source, number>>> {
  return async () => {
    const metadata = await admin.fetchTopicMetadata({ topics: sources.map((s) => topics.sources[s]) });
    const out: Partial<Record<Source, number>> = {};
    for (const source of sources) {
      const topic = metadata.topics.find((t) => t.name === topics.sources[source]);
      if (topic) out[source] = topic.partitions.length;
    }
    return out;
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The black-box freshness probe: writes one probe event to every partition of every source
 * topic (explicit partition, key = the partition's canary user), then polls the read path
 * until each probe's event time shows up as the latest_event_ms of its feature. The delay
 * from send to readable feeds churnfeat_canary_readable_seconds{source}.
 */
export class Canary {
  readonly plans: ProbePlan[];
  readonly skipped: Array<{ source: Source; reason: string }>;
  private readonly clock: () => number;
  private running = false;
  private loopDone: Promise<void> | null = null;

  constructor(private readonly options: CanaryOptions) {
    const { plans, skipped } = planProbes(options.registry);
    this.plans = plans;
    this.skipped = skipped;
    this.clock = options.clock ?? Date.now;
  }

  /** One round: a probe per partition, then poll until all are readable or timed out. */
  async runOnce(): Promise<ProbeResult[]> {
    const { metrics, reader } = this.options;
    const timeoutMs = this.options.timeoutMs ?? 300_000;
    const pollMs = this.options.pollIntervalMs ?? 200;
    let counts: Partial<Record<Source, number>>;
    try {
      counts = await this.options.partitionCounts();
    } catch (error) {
      // Kafka does not answer: nothing can be probed, and that is a failed probe per source.
      this.options.log?.(`canary: reading partition counts failed: ${(error as Error).message}`);
      for (const plan of this.plans) metrics.probes.inc({ source: plan.source, outcome: 'produce_error' });
      metrics.lastRun.set(this.clock() / 1000);
      return [];
    }
    const round = randomBytes(4).toString('hex');
    const sentMs = this.clock();
    const pending: Array<{ plan: ProbePlan; partition: number; userId: string }> = [];
    for (const plan of this.plans) {
      for (let partition = 0; partition < (counts[plan.source] ?? 0); partition++) pending.push({ plan, partition, userId: canaryUserId(plan.source, partition) });
    }
    const results: ProbeResult[] = [];
    const finish = (probe: (typeof pending)[number], outcome: ProbeOutcome, seconds: number | null): void => {
      results.push({ source: probe.plan.source, partition: probe.partition, userId: probe.userId, outcome, seconds });
      metrics.probes.inc({ source: probe.plan.source, outcome });
      metrics.lastReadableSeconds.set({ source: probe.plan.source, partition: String(probe.partition) }, seconds ?? -1);
      if (seconds !== null) metrics.readableSeconds.observe({ source: probe.plan.source }, seconds);
    };
    let acknowledged: Set<string>;
    try {
      const acks = await this.options.producer.sendBatch({
        acks: -1,
        topicMessages: this.plans.map((plan) => ({
          topic: this.options.topics.sources[plan.source],
          messages: pending
            .filter((p) => p.plan === plan)
            .map((p) => ({
              key: p.userId,
              partition: p.partition,
              timestamp: String(sentMs),
              value: probeEventBytes(plan, p.userId, sentMs, `canary-${round}-${p.plan.source}-${p.partition}`),
            })),
        })),
      });
      acknowledged = new Set(acks.map((ack) => `${ack.topicName}:${ack.partition}`));
    } catch (error) {
      this.options.log?.(`canary: producing probes failed: ${(error as Error).message}`);
      for (const probe of pending) finish(probe, 'produce_error', null);
      metrics.lastRun.set(this.clock() / 1000);
      return results;
    }
    // kafkajs drops, without an error, messages for a partition its metadata does not know yet
    // (one added to the topic since the producer's last metadata refresh): such a probe was never
    // written, so it is a produce error now, not a timeout minutes later.
    const unwritten = pending.filter((p) => !acknowledged.has(`${this.options.topics.sources[p.plan.source]}:${p.partition}`));
    if (unwritten.length > 0) {
      this.options.log?.(
        `canary: ${unwritten.length} probes not acknowledged (partitions unknown to the producer's metadata until its next refresh): ${unwritten.map((p) => `${p.plan.source}:${p.partition}`).join(', ')}`,
      );
      for (const probe of unwritten) finish(probe, 'produce_error', null);
    }
    let waiting = pending.filter((p) => !unwritten.includes(p));
    while (waiting.length > 0) {
      const stillWaiting: typeof waiting = [];
      for (const plan of this.plans) {
        const group = waiting.filter((p) => p.plan === plan);
        if (group.length === 0) continue;
        let latest: Array<number | null>;
        try {
          latest = await reader.latestEventMs(
            group.map((p) => p.userId),
            plan.feature.name,
          );
        } catch (error) {
          metrics.readErrors.inc({ source: plan.source });
          this.options.log?.(`canary: reading probes of ${plan.source} failed: ${(error as Error).message}`);
          stillWaiting.push(...group);
          continue;
        }
        const now = this.clock();
        group.forEach((probe, index) => {
          const ms = latest[index];
          if (ms !== null && ms !== undefined && ms >= sentMs) finish(probe, 'readable', Math.max(0, now - sentMs) / 1000);
          else stillWaiting.push(probe);
        });
      }
      waiting = stillWaiting;
      if (waiting.length === 0) break;
      if (this.clock() - sentMs >= timeoutMs) {
        for (const probe of waiting) finish(probe, 'timeout', null);
        this.options.log?.(`canary: ${waiting.length} probes not readable after ${timeoutMs / 1000} s: ${waiting.map((p) => `${p.plan.source}:${p.partition}`).join(', ')}`);
        break;
      }
      await sleep(pollMs);
    }
    metrics.lastRun.set(this.clock() / 1000);
    return results;
  }

  /** Runs a round every `intervalMs` (rounds never overlap) until stop(). */
  start(intervalMs: number): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = (async () => {
      while (this.running) {
        const started = this.clock();
        try {
          await this.runOnce();
        } catch (error) {
          this.options.log?.(`canary: round failed: ${(error as Error).message}`);
        }
        const rest = intervalMs - (this.clock() - started);
        for (let waited = 0; this.running && waited < rest; waited += 100) await sleep(Math.min(100, rest - waited));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loopDone;
  }
}
