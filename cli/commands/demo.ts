/**
 * `churnfeat demo` (`make demo`): the main job end to end on the embedded defaults. Streams
 * a live synthetic workload (late, duplicated, id-less, invalid events included) for about a
 * minute through real Kafka into the sidecar and Redis, lands the raw events in the lake,
 * builds the features offline with dbt on DuckDB, and checks online == offline with the
 * parity job. Exit 0 when every record was consumed and parity passed, else 1.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { logLevel } from 'kafkajs';
import {
  createKafkaClient,
  createRedisClient,
  defineOption,
  pickKafkaConnection,
  redactUrl,
  optionsFromEnv,
  readArgOptions,
  resolveOptions,
  resolveTable,
  type SidecarOptions,
} from '../../sidecar/src/config/index.ts';
import { generateWorkload, type WorkloadRecord } from '../../sidecar/src/loadgen/workload.ts';
import { Sidecar } from '../../sidecar/src/pipeline/index.ts';
import { FeatureReader } from '../../sidecar/src/store/index.ts';
import { histogramQuantile } from '../../sidecar/src/metrics/index.ts';
import { LakeWriter, LocalLakeStorage, resolveLakeWriterOptions } from '../../sidecar/src/lake/index.ts';
import { defaultParityOptions } from '../../parity/src/options.ts';
import { runParity, summarizeParity } from '../../parity/src/run-parity.ts';
import { EXIT, tableUsage, type Command } from '../command.ts';

export const DEMO_OPTIONS = {
  seconds: defineOption<number>({ kind: 'integer', description: 'how long the live workload streams, s', default: 60, schema: { type: 'integer', minimum: 5, maximum: 3_600 } }),
  users: defineOption<number>({ kind: 'integer', description: 'subscribers in the workload', default: 2_000, schema: { type: 'integer', minimum: 10 } }),
  seed: defineOption<number>({ kind: 'integer', description: 'workload seed', default: 7, schema: { type: 'integer', minimum: 0 } }),
} as const;

export const command: Command = {
  usage: () =>
    tableUsage(
      'demo [options]',
      'Streams a live workload through Kafka, the sidecar and the lake, builds the features offline with dbt and checks parity.\nKafka and Redis come from CHURNFEAT_KAFKA_BROKERS and CHURNFEAT_REDIS_URL (make demo starts its own stack).',
      DEMO_OPTIONS,
    ),
  async run(argv) {
    const flags = resolveTable(DEMO_OPTIONS, readArgOptions(DEMO_OPTIONS, argv).options);
    const runId = `demo${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
    const options = resolveOptions({ ...optionsFromEnv(), keyPrefix: runId, topicNamespace: `churnfeat.${runId}`, groupId: `${runId}-sidecar` });
    return runDemo({ runId, options, seconds: flags.seconds, users: flags.users, seed: flags.seed });
  },
};

/** One demo run: its id (topics, keys, group), the sidecar's options, the workload's size. */
interface DemoRun {
  runId: string;
  options: SidecarOptions;
  seconds: number;
  users: number;
  seed: number;
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** A live workload: ingest times spread over the next `seconds`, late events carry older event times. */
function liveWorkload({ runId, seconds, users, seed }: DemoRun, startMs: number): WorkloadRecord[] {
  const spanMs = seconds * 1000;
  const all = generateWorkload({ seed, users, eventsPerUser: Math.ceil((3600 / seconds) * 6), startMs: startMs + spanMs - 3_600_000, endMs: startMs + spanMs, lateShare: 0.03, veryLateShare: 0 });
  const live = all.filter((r) => r.ingestMs >= startMs && r.ingestMs < startMs + spanMs);
  // a few events from devices that buffered for hours: 3 h late (applied) and 25 h late (too late)
  const buffered = live
    .filter((r) => r.kind === 'valid')
    .slice(0, 40)
    .map((r, i) => {
      const event = JSON.parse(r.value.toString()) as Record<string, unknown>;
      event.event_id = `buffered-${runId}-${i}`;
      event.event_ts = new Date(r.ingestMs - (i % 2 === 0 ? 3 : 25) * 3_600_000).toISOString();
      return { ...r, value: Buffer.from(JSON.stringify(event)) };
    });
  return [...live, ...buffered].sort((a, b) => a.ingestMs - b.ingestMs);
}

/** Deletes the demo's topics and Redis keys (the stack itself is stopped by `make demo`). */
async function cleanUp({ runId, options }: DemoRun): Promise<void> {
  const admin = createKafkaClient(options, { clientId: `${runId}-cleanup`, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${options.topicNamespace}.`));
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
  const redis = createRedisClient(options);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${options.keyPrefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
  redis.disconnect();
}

async function runDemo(run: DemoRun): Promise<number> {
  const { runId, options, seconds } = run;
  log(`churnfeat demo ${runId}: Kafka ${options.brokers.join(',')}, Redis ${redactUrl(options.redisUrl)}, topics ${options.topicNamespace}.*`);
  const sidecar = new Sidecar(options);
  await sidecar.start();
  const lakeRoot = resolve('.cache', 'lake', runId);
  const lakeWriter = new LakeWriter(
    resolveLakeWriterOptions({
      ...pickKafkaConnection(options),
      topicNamespace: options.topicNamespace,
      groupId: `${runId}-lake`,
      clientId: `${runId}-lake`,
      lakeUri: lakeRoot,
      flushIntervalMs: 2_000,
    }),
    { storage: new LocalLakeStorage(lakeRoot) },
  );
  await lakeWriter.start();
  const kafka = createKafkaClient(options, { clientId: `${runId}-producer`, logLevel: logLevel.ERROR });
  const producer = kafka.producer();
  await producer.connect();
  const startMs = Date.now() + 2_000;
  const workload = liveWorkload(run, startMs);
  log(`streaming ${workload.length} records over ${seconds} s (${workload.filter((r) => r.kind === 'invalid').length} invalid, ${workload.filter((r) => r.kind === 'duplicate').length} duplicates)`);
  let next = 0;
  while (next < workload.length) {
    const now = Date.now();
    const due: WorkloadRecord[] = [];
    while (next < workload.length && (workload[next] as WorkloadRecord).ingestMs <= now) due.push(workload[next++] as WorkloadRecord);
    if (due.length > 0) {
      const byTopic = new Map<string, Array<{ key: string; value: Buffer }>>();
      for (const r of due) {
        const topic = sidecar.topics.sources[r.source];
        byTopic.set(topic, [...(byTopic.get(topic) ?? []), { key: r.key, value: r.value }]);
      }
      await producer.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    }
    if (next % 5000 < due.length) log(`  t+${Math.round((now - startMs) / 1000)} s: ${next} records produced`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const deadline = Date.now() + 60_000;
  while ((await sidecar.metrics.totals()).consumed < workload.length && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  while (lakeWriter.stats.records < workload.length && Date.now() < deadline + 30_000) {
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await sidecar.publishWatermarks();
  const totals = await sidecar.metrics.totals();
  const freshness = await sidecar.metrics.eventToReadable.get();
  const p50 = histogramQuantile(0.5, freshness);
  const p95 = histogramQuantile(0.95, freshness);
  const pipelineFreshness = await sidecar.metrics.ingestToReadable.get();
  const ingestP50 = histogramQuantile(0.5, pipelineFreshness);
  const ingestP95 = histogramQuantile(0.95, pipelineFreshness);

  const redis = createRedisClient(options);
  const reader = new FeatureReader(redis, sidecar.registry, options.keyPrefix);
  const sampleUser = 'u0000001';
  const sample = await reader.read(sampleUser);

  log('');
  log('== churnfeat demo report ==');
  log(`records consumed     ${totals.consumed}`);
  log(`  applied            ${totals.applied}`);
  log(`  duplicate          ${totals.duplicate}`);
  log(`  too late           ${totals.too_late}  (late-events topic)`);
  log(`  dead-lettered      ${totals.invalid}  (dead-letter topic)`);
  log(`  irrelevant         ${totals.irrelevant}`);
  log(`  replayed           ${totals.replayed}`);
  log(`  conservation       ${totals.consumed === totals.applied + totals.duplicate + totals.too_late + totals.invalid + totals.irrelevant + totals.replayed ? 'holds' : 'BROKEN'}`);
  log(`freshness event->readable   p50 ${p50.toFixed(2)} s  p95 ${p95.toFixed(2)} s  (SLO p50 < 30 s, p95 < 120 s; includes the 3% of events that arrive 5-30 min late)`);
  log(`freshness ingest->readable  p50 ${ingestP50.toFixed(2)} s  p95 ${ingestP95.toFixed(2)} s  (the pipeline's own share; both estimated from histogram buckets)`);
  log(`features of ${sampleUser} at ${new Date(sample.as_of_ms).toISOString()}:`);
  for (const [name, feature] of Object.entries(sample.features)) {
    log(`  ${name.padEnd(28)} ${String(feature.value).padStart(8)}   latest event ${feature.latest_event_ms ? new Date(feature.latest_event_ms).toISOString() : '-'}`);
  }
  log(`lake                 ${lakeWriter.stats.events} events and ${lakeWriter.stats.deadLetters} dead letters in ${lakeWriter.stats.files} Parquet files under ${lakeRoot}`);
  await producer.disconnect();
  await sidecar.stop();
  await lakeWriter.stop();
  redis.disconnect();

  log('');
  log('parity: dbt builds the features offline from the lake (DuckDB) and the job diffs them with Redis ...');
  const duckdbPath = resolve('.cache', 'warehouse', `${runId}.duckdb`);
  mkdirSync(resolve('.cache', 'warehouse'), { recursive: true });
  const defaults = defaultParityOptions();
  const parity = await runParity({
    asOfMs: Date.now(),
    users: 300,
    outDir: resolve('reports', 'demo', runId),
    redisUrl: options.redisUrl,
    keyPrefix: options.keyPrefix,
    topicNamespace: options.topicNamespace,
    kafka: { brokers: options.brokers, groupId: options.groupId },
    lake: { uri: lakeRoot, s3Endpoint: null },
    warehouse: { kind: 'duckdb', path: duckdbPath },
    dbt: { ...defaults.dbt, env: { CHURNFEAT_DUCKDB_PATH: duckdbPath, CHURNFEAT_LAKE_ROOT: lakeRoot }, vars: { lake_root: lakeRoot } },
    dbtBuild: true,
  });
  log(summarizeParity(parity));
  await cleanUp(run);
  const ok = totals.consumed === workload.length && parity.status === 'pass';
  if (!ok) {
    log(`demo FAILED: consumed ${totals.consumed} of ${workload.length} records; parity ${parity.status}`);
    return EXIT.failed;
  }
  log('');
  log(`demo OK. Topics ${options.topicNamespace}.* and Redis keys ${options.keyPrefix}:* were removed; the lake and the warehouse stay under .cache/ (make clean removes them).`);
  return EXIT.ok;
}
