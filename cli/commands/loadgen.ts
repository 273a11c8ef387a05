/**
 * `churnfeat loadgen`: a deterministic, realistic event stream to the source topics and/or
 * an NDJSON file, at a target rate; progress lines on stderr.
 *   churnfeat loadgen --namespace bench.x --create-topics --rate 20000 --duration 60
 *   churnfeat loadgen --no-kafka --out events.ndjson --clock virtual --start-ms 1767225600000 --count 100000
 */
import { logLevel } from 'kafkajs';
import { createKafkaClient, KAFKA_SECURITY_OPTIONS, readEnvOptions, UsageError } from '../../sidecar/src/config/index.ts';
import { ensureTopics, topicNames } from '../../sidecar/src/kafka/index.ts';
import { EventStream } from '../../sidecar/src/loadgen/event-stream.ts';
import { KafkaSink } from '../../sidecar/src/loadgen/kafka-sink.ts';
import { LOADGEN_USAGE, LoadgenUsageError, parseLoadgenArgs } from '../../sidecar/src/loadgen/cli-options.ts';
import { NdjsonWriter } from '../../sidecar/src/loadgen/ndjson.ts';
import { runLoad, type LoadSummary, type RecordSink } from '../../sidecar/src/loadgen/run-load.ts';
import { EXIT, type Command } from '../command.ts';

function progressLine(s: LoadSummary): string {
  return `churnfeat loadgen: ${s.produced} events in ${(s.elapsedMs / 1000).toFixed(1)} s, ${Math.round(s.achievedRate)}/s (target ${s.targetRate || 'max'}), behind ${s.maxBehind} at most\n`;
}

export const command: Command = {
  usage: () => LOADGEN_USAGE,
  async run(argv) {
    let parsed: ReturnType<typeof parseLoadgenArgs>;
    let stream: EventStream;
    try {
      parsed = parseLoadgenArgs(argv);
      if (parsed === 'help') {
        process.stdout.write(LOADGEN_USAGE);
        return EXIT.ok;
      }
      // The stream's constructor checks the shares (RangeError).
      stream = new EventStream(parsed.stream);
    } catch (error) {
      if (error instanceof LoadgenUsageError || error instanceof RangeError) throw new UsageError(error.message);
      throw error;
    }
    const options = parsed;
    const sinks: RecordSink[] = [];
    const closers: Array<() => Promise<void>> = [];
    if (options.kafka) {
      const kafka = createKafkaClient({ ...readEnvOptions(KAFKA_SECURITY_OPTIONS), brokers: options.brokers }, { clientId: 'churnfeat-loadgen', logLevel: logLevel.ERROR, retry: { retries: 5 } });
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
    // SIGTERM/SIGINT end the run early; what was produced is flushed and summarized (exit 0).
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
    return EXIT.ok;
  },
};
