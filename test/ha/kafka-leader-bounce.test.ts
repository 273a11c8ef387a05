import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTopic, topicSize } from '../helpers/kafka.ts';
import { HA_BROKERS, partitionState, restartMissing, signalNode } from '../helpers/ha.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Acked records survive leader loss on the 3-broker cluster (RF 3, min.insync.replicas 2,
 * unclean leader election off) with acks=all and an idempotent producer; acks=1 loses them.
 */
const kafka = new Kafka({ clientId: 'ha-bounce', brokers: HA_BROKERS, logLevel: logLevel.NOTHING, retry: { retries: 20, initialRetryTime: 100, maxRetryTime: 1_000 } });
let admin: Admin;

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});
afterAll(async () => {
  await admin.disconnect();
});

async function newTopic(label: string): Promise<string> {
  const topic = `ha.${label}.${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  // no replication factor: the cluster's default (3) and min.insync.replicas (2) apply
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: false });
  await waitFor(`a leader for ${topic}`, async () => (await partitionState(admin, topic, 0)).leader >= 0, { timeoutMs: 30_000 });
  return topic;
}

/** Produces numbered records until stopped; remembers which numbers the broker acknowledged. */
class NumberedLoad {
  readonly acked = new Set<number>();
  failedSends = 0;
  /** The longest time without an acknowledgement (the producer's stall during a fault). */
  longestStallMs = 0;
  private next = 0;
  private running = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly acks: -1 | 1,
    private readonly perSend = 20,
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    let lastAck = Date.now();
    while (this.running) {
      const ids = Array.from({ length: this.perSend }, () => this.next++);
      try {
        await this.producer.send({ topic: this.topic, acks: this.acks, messages: ids.map((id) => ({ key: String(id % 97), value: String(id) })) });
        for (const id of ids) this.acked.add(id);
        const now = Date.now();
        this.longestStallMs = Math.max(this.longestStallMs, now - lastAck);
        lastAck = now;
      } catch {
        this.failedSends += 1; // not acknowledged: may or may not be in the log, never counted as lost
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

/** What the partition holds at the end, against what was acknowledged. */
async function audit(topic: string, acked: Set<number>): Promise<{ inLog: number; lost: number; doubled: number }> {
  const size = await topicSize(topic);
  const records = await readTopic(topic, (r) => r.length >= size, { timeoutMs: 60_000 });
  const seen = new Map<number, number>();
  for (const r of records) {
    const id = Number(r.value?.toString());
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  let lost = 0;
  for (const id of acked) if (!seen.has(id)) lost += 1;
  const doubled = [...seen.values()].filter((n) => n > 1).length;
  return { inLog: records.length, lost, doubled };
}

async function waitForNewLeader(topic: string, old: number): Promise<number> {
  const state = await waitFor(
    `a new leader of ${topic}:0 (was ${old})`,
    async () => {
      const s = await partitionState(admin, topic, 0);
      return s.leader >= 0 && s.leader !== old ? s : null;
    },
    { timeoutMs: 60_000, intervalMs: 100 },
  );
  return state.leader;
}

async function waitForFullIsr(topic: string): Promise<void> {
  await waitFor(`all 3 replicas of ${topic}:0 in sync`, async () => (await partitionState(admin, topic, 0)).isr.length === 3, { timeoutMs: 90_000, intervalMs: 250 });
}

/** The fault's duration (the followers are held stopped this long), not a wait for a condition. */
function holdFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('Kafka: leader loss on 3 brokers', () => {
  it('loses and doubles no acknowledged record over 5 hard bounces of the busy partition leader (acks=all, idempotent)', async () => {
    const topic = await newTopic('bounce');
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await producer.connect();
    const load = new NumberedLoad(producer, topic, -1);
    const bounces: Array<{ killed: number; newLeader: number; electedMs: number; rejoinedMs: number }> = [];
    try {
      await waitFor('the load to be acknowledged', async () => load.acked.size > 500);
      for (let i = 0; i < 5; i += 1) {
        const { leader } = await partitionState(admin, topic, 0);
        const t0 = Date.now();
        await signalNode(`kafka-${leader}`, 'SIGKILL');
        const newLeader = await waitForNewLeader(topic, leader);
        const electedMs = Date.now() - t0;
        await restartMissing('kafka3');
        await waitForFullIsr(topic);
        bounces.push({ killed: leader, newLeader, electedMs, rejoinedMs: Date.now() - t0 });
        const before = load.acked.size;
        await waitFor('the load to go on after the bounce', async () => load.acked.size > before + 200, { timeoutMs: 60_000 });
      }
    } finally {
      await load.stop();
      await producer.disconnect();
    }
    const result = await audit(topic, load.acked);
    console.info(
      `kafka bounce (acks=all, idempotent): ${load.acked.size} acked, ${result.inLog} in the log, faults 5 leader kill -9, lost ${result.lost}, doubled ${result.doubled}, failed sends ${load.failedSends}, longest producer stall ${load.longestStallMs} ms; ` +
        bounces.map((b) => `kill ${b.killed} -> leader ${b.newLeader} in ${b.electedMs} ms, ISR 3 again after ${b.rejoinedMs} ms`).join('; '),
    );
    expect(bounces).toHaveLength(5);
    expect(result.lost).toBe(0);
    expect(result.doubled).toBe(0);
  });

  // The leader acks while both followers are stopped (still in the ISR, for less than
  // replica.lag.time.max.ms), then dies: a follower becomes leader without those records.
  async function followersFrozenThenLeaderKilled(acks: -1 | 1): Promise<{ acked: number; lost: number; doubled: number; inLog: number }> {
    const topic = await newTopic(acks === 1 ? 'acks1' : 'acksall');
    await waitForFullIsr(topic);
    const producer = kafka.producer(acks === -1 ? { idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false } : { allowAutoTopicCreation: false });
    await producer.connect();
    const load = new NumberedLoad(producer, topic, acks);
    try {
      await waitFor('the load to be acknowledged', async () => load.acked.size > 500);
      const { leader } = await partitionState(admin, topic, 0);
      const followers = [1, 2, 3].filter((n) => n !== leader).map((n) => `kafka-${n}`);
      for (const f of followers) await signalNode(f, 'SIGSTOP');
      try {
        await holdFor(1_500);
        await signalNode(`kafka-${leader}`, 'SIGKILL');
      } finally {
        for (const f of followers) await signalNode(f, 'SIGCONT');
      }
      await waitForNewLeader(topic, leader);
      const before = load.acked.size;
      await waitFor('the load to go on on the new leader', async () => load.acked.size > before + 200, { timeoutMs: 60_000 });
    } finally {
      await load.stop();
      await producer.disconnect();
      await restartMissing('kafka3');
    }
    await waitForFullIsr(topic);
    return { acked: load.acked.size, ...(await audit(topic, load.acked)) };
  }

  it('negative control: acks=1 loses acknowledged records when the leader dies ahead of its followers; acks=all loses none', async () => {
    const one = await followersFrozenThenLeaderKilled(1);
    const all = await followersFrozenThenLeaderKilled(-1);
    console.info(
      `kafka leader death ahead of followers (followers stopped 1.5 s, then leader kill -9): acks=1: ${one.acked} acked, lost ${one.lost}, doubled ${one.doubled}; acks=all+idempotent: ${all.acked} acked, lost ${all.lost}, doubled ${all.doubled}`,
    );
    expect(one.lost).toBeGreaterThan(0);
    expect(all.lost).toBe(0);
    expect(all.doubled).toBe(0);
  });
});
