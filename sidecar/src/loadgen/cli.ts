/**
 * The load generator: a deterministic, realistic event stream to the source topics and/or
 * an NDJSON file, at a target rate.
 *   npx tsx sidecar/src/loadgen/cli.ts --namespace bench.x --create-topics --rate 20000 --duration 60
 *   npx tsx sidecar/src/loadgen/cli.ts --no-kafka --out events.ndjson --clock virtual --start-ms 1767225600000 --count 100000
 * `--help` lists every option. A bad option exits 2 with a message naming it.
 */
import { Kafka, logLevel } from 'kafkajs';
import { ensureTopics, topicNames } from '../kafka/index.ts';
import { EventStream } from './event-stream.ts';
import { KafkaSink } from './kafka-sink.ts';
import { LOADGEN_USAGE, LoadgenUsageError, parseLoadgenArgs, type LoadgenCliOptions } from './cli-options.ts';
import { NdjsonWriter } from './ndjson.ts';
import { runLoad, type LoadSummary, type RecordSink } from './run-load.ts';

/** The options and the stream they describe; the stream's constructor checks the shares. */
function parse(): { options: LoadgenCliOptions; stream: EventStream } {
  try {
    const options = parseLoadgenArgs(process.argv.slice(2));
    if (options === 'help') {
      process.stdout.write(LOADGEN_USAGE);
      process.exit(0);
    }
    return { options, stream: new EventStream(options.stream) };
  } catch (error) {
    if (error instanceof LoadgenUsageError || error instanceof RangeError) {
      process.stderr.write(`churnfeat loadgen: ${error.message}\n(see --help)\n`);
      process.exit(2);
    }
    throw error;
  }
}

function progressLine(s: LoadSummary): string {
  return `churnfeat loadgen: ${s.produced} events in ${(s.elapsedMs / 1000).toFixed(1)} s, ${Math.round(s.achievedRate)}/s (target ${s.targetRate || 'max'}), behind ${s.maxBehind} at most\n`;
}

async function main(): Promise<void> {
  const { options, stream } = parse();
  const sinks: RecordSink[] = [];
  const closers: Array<() => Promise<void>> = [];
  if (options.kafka) {
    const kafka = new Kafka({ clientId: 'churnfeat-loadgen', brokers: options.brokers, logLevel: logLevel.ERROR, retry: { retries: 5 } });
    const topics = topicNames(options.namespace);
    if (options.createTopics) {
      const admin = kafka.admin();
      await admin.connect();
      await ensureTopics(admin, topics);
      await admin.disconnect();
    }
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    sinks.push(new KafkaSink(producer, topics, { acks: options.acks, maxInFlight: options.maxInFlight }));
    closers.push(() => producer.disconnect());
  }
  if (options.out !== undefined) {
    const writer = new NdjsonWriter(options.out);
    sinks.push(writer);
    closers.push(() => writer.close());
  }
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  const summary = await runLoad({
    stream,
    rate: options.rate,
    ...(options.count === undefined ? {} : { count: options.count }),
    ...(options.durationMs === undefined ? {} : { durationMs: options.durationMs }),
    clock: options.clock,
    ...(options.startMs === undefined ? {} : { virtualStartMs: options.startMs }),
    batch: options.batch,
    sinks,
    signal: abort.signal,
    onProgress: options.quiet ? undefined : (s) => process.stderr.write(progressLine(s)),
  });
  for (const close of closers) await close();
  if (!options.quiet) process.stderr.write(progressLine(summary));
  if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
}

await main();
