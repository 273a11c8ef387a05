/**
 * The Kafka client's share of the sidecar's work, alone: consumes the benchmark's source
 * topics with kafkajs configured as the sidecar configures it (one group, eachBatch, no
 * auto-commit, commit + resolve per batch, the same partition concurrency) but does
 * nothing with the records. Prints one JSON line: records, seconds, and this process's
 * CPU seconds (process.cpuUsage), so CPU per record of fetch + decode + commit is known.
 *
 * Started by bench/pipeline/run.ts with `node --import tsx`; env: CHURNFEAT_KAFKA_BROKERS,
 * BENCH_TOPICS (comma-separated), BENCH_GROUP, BENCH_EXPECT (records to wait for),
 * BENCH_PARTITIONS_CONCURRENTLY (default 4).
 */
import { Kafka, logLevel } from 'kafkajs';

const brokers = (process.env.CHURNFEAT_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const topics = (process.env.BENCH_TOPICS ?? '').split(',').filter((t) => t.length > 0);
const expect = Number(process.env.BENCH_EXPECT ?? 0);
const kafka = new Kafka({ clientId: 'churnfeat-bench-kafka-only', brokers, logLevel: logLevel.ERROR });
const consumer = kafka.consumer({ groupId: process.env.BENCH_GROUP ?? 'churnfeat-bench-kafka-only', sessionTimeout: 10_000, heartbeatInterval: 1_000, rebalanceTimeout: 20_000 });
await consumer.connect();
await consumer.subscribe({ topics, fromBeginning: true });
let records = 0;
let bytes = 0;
let firstAt = 0;
let cpuAtFirst = process.cpuUsage();
const done = new Promise<void>((resolve) => {
  void consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: Number(process.env.BENCH_PARTITIONS_CONCURRENTLY ?? 4),
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      if (batch.messages.length === 0 || !isRunning() || isStale()) return;
      if (firstAt === 0) {
        firstAt = performance.now();
        cpuAtFirst = process.cpuUsage();
      }
      // Touch what the sidecar reads from each message, so lazy decoding is paid for.
      const copy = batch.messages.map((m) => ({ topic: batch.topic, partition: batch.partition, offset: m.offset, timestamp: m.timestamp, key: m.key, value: m.value }));
      for (const m of copy) bytes += m.value?.length ?? 0;
      const last = batch.messages[batch.messages.length - 1];
      if (!last) return;
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
      resolveOffset(last.offset);
      records += batch.messages.length;
      await heartbeat();
      if (records >= expect) resolve();
    },
  });
});
await done;
const cpu = process.cpuUsage(cpuAtFirst);
const seconds = (performance.now() - firstAt) / 1000;
await consumer.disconnect();
process.stdout.write(`${JSON.stringify({ client: 'kafkajs', records, bytes, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
