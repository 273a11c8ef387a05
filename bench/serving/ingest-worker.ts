/**
 * Background ingestion for the benchmark, in a child process of its own (so it never
 * shares an event loop with the load driver): applies fresh events to random bench users
 * through the real write path at a fixed rate, and publishes partition watermarks once a
 * second like the sidecar. Started by run.ts with fork(); argv: JSON options. Answers the
 * message "stop" with {events, calls, seconds} and exits.
 */
import { Redis } from 'ioredis';
import { SOURCES, type NormalizedEvent } from '../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { FeatureWriter, type StoreRecord } from '../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../sidecar/src/windows/index.ts';
import { prng } from '../../sidecar/src/loadgen/workload.ts';
import { BENCH_PARTITIONS, benchPartition, benchTopic } from './load-users.ts';
import { benchUserId } from './user-profile.ts';

export interface IngestWorkerOptions {
  redisUrl: string;
  prefix: string;
  users: number;
  eventsPerSecond: number;
  /** One pipelined write every tick: Redis runs a pipeline's calls back to back, so bigger ticks mean longer read stalls. */
  tickMs: number;
  /** Most apply calls per pipeline (FeatureWriterOptions.maxCallsPerPipeline). */
  maxCallsPerPipeline: number;
  allowedLatenessMs: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as IngestWorkerOptions;
const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);
const redis = new Redis(options.redisUrl);
const writer = new FeatureWriter(redis, operators, {
  prefix: options.prefix,
  allowedLatenessMs: options.allowedLatenessMs,
  dedupMarginMs: 3_600_000,
  pruneAboveFields: 256,
  maxCallsPerPipeline: options.maxCallsPerPipeline,
});
const rand = prng(7);
// Above every offset the bulk load used, so these records are never judged replays.
let offset = 1_000_000_000_000n;
let events = 0;
let calls = 0;
let running = true;
const started = performance.now();

function freshEvent(userIndex: number, nowMs: number, seq: number): NormalizedEvent {
  const userId = benchUserId(userIndex);
  const error = rand() < 0.2;
  const ts = new Date(nowMs).toISOString();
  return {
    source: 'client',
    eventId: `live-${seq}`,
    eventKey: `live-${seq}`,
    userId,
    deviceId: 'bench-device',
    eventType: error ? 'playback_error' : 'playback_heartbeat',
    eventTs: ts,
    ingestTs: ts,
    eventMs: nowMs,
    ingestMs: nowMs,
    attributes: error ? { error_code: 'E1' } : { watched_seconds: 30 },
  };
}

async function publishWatermarks(): Promise<void> {
  const now = Date.now();
  const entries = SOURCES.flatMap((source) => Array.from({ length: BENCH_PARTITIONS[source] }, (_, partition) => ({ source, partition, watermarkMs: now })));
  await writer.writeWatermarks(entries);
}

async function loop(): Promise<void> {
  const tickMs = options.tickMs;
  let seq = 0;
  let carry = 0;
  let next = performance.now();
  while (running) {
    const now = Date.now();
    // Fractional events carry over, so small ticks keep the exact rate.
    carry += (options.eventsPerSecond * tickMs) / 1000;
    const perTick = Math.floor(carry);
    carry -= perTick;
    const records: StoreRecord[] = [];
    for (let i = 0; i < perTick; i++) {
      const user = Math.floor(rand() * options.users);
      const event = freshEvent(user, now, seq++);
      offset += 1n;
      records.push({ event, topic: benchTopic('client'), partition: benchPartition(user, 'client'), offset: offset.toString(), ops: operators.opsFor(event) });
    }
    if (records.length > 0) {
      await writer.write(records);
      events += records.length;
      calls += new Set(records.map((r) => r.event.userId)).size;
    }
    next += tickMs;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
  }
}

await publishWatermarks();
const ticker = setInterval(() => void publishWatermarks(), 1_000);
const done = loop();
process.send?.({ ready: true });
process.on('message', (message) => {
  if (message !== 'stop') return;
  running = false;
  clearInterval(ticker);
  void done.then(() => {
    process.send?.({ events, calls, seconds: (performance.now() - started) / 1000 });
    redis.disconnect();
    process.exit(0);
  });
});
