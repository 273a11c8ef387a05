/**
 * Runs the freshness canary: a probe event to every partition of every source topic each
 * interval, timed until readable through the read path; Prometheus /metrics on its port.
 *   npx tsx sidecar/src/cli/canary.ts           (options from CHURNFEAT_* env vars, see canary/canary-options.ts)
 *   npx tsx sidecar/src/cli/canary.ts --once    one round, prints each probe, exits 1 if any probe failed
 * A bad feature definition or option exits 2 with a message naming the file/field/option.
 */
import { createServer } from 'node:http';
import { Kafka, logLevel } from 'kafkajs';
import {
  Canary,
  CanaryMetrics,
  ClientProbeReader,
  HttpProbeReader,
  canaryOptionsFromEnv,
  partitionCountsFromAdmin,
  planProbes,
  resolveCanaryOptions,
  type CanaryProcessOptions,
  type ProbeReader,
} from '../canary/index.ts';
import { ChurnfeatError } from '../errors.ts';
import { loadFeatureRegistry, type FeatureRegistry } from '../features/index.ts';
import { topicNames } from '../kafka/index.ts';
import { connectFeatureClient } from '../serving/index.ts';

async function main(): Promise<void> {
  const once = process.argv.includes('--once');
  let options: CanaryProcessOptions;
  let registry: FeatureRegistry;
  try {
    options = resolveCanaryOptions(canaryOptionsFromEnv());
    registry = loadFeatureRegistry(options.dbtProjectDir);
  } catch (error) {
    if (error instanceof ChurnfeatError) {
      process.stderr.write(`churnfeat canary: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const log = (line: string): void => void process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const kafka = new Kafka({ clientId: 'churnfeat-canary', brokers: options.brokers, logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await admin.connect();
  await producer.connect();
  const topics = topicNames(options.topicNamespace);
  let reader: ProbeReader;
  let closeReader = async (): Promise<void> => undefined;
  if (options.readVia === 'redis') {
    const connected = await connectFeatureClient({ redisUrl: options.redisUrl, prefix: options.keyPrefix, registry });
    reader = new ClientProbeReader(connected.client);
    closeReader = connected.close;
  } else {
    reader = new HttpProbeReader(options.readVia);
  }
  const metrics = new CanaryMetrics();
  const canary = new Canary({
    producer,
    topics,
    registry,
    reader,
    metrics,
    partitionCounts: partitionCountsFromAdmin(admin, topics, planProbes(registry).plans.map((plan) => plan.source)),
    timeoutMs: options.timeoutMs,
    pollIntervalMs: options.pollIntervalMs,
    log,
  });
  for (const { source, reason } of canary.skipped) log(`canary: source ${source} is not probed: ${reason}`);
  const close = async (): Promise<void> => {
    await canary.stop();
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await closeReader();
  };

  if (once) {
    const results = await canary.runOnce();
    for (const r of results) process.stdout.write(`${r.source}:${r.partition}\t${r.userId}\t${r.outcome}\t${r.seconds === null ? '-' : `${r.seconds.toFixed(3)} s`}\n`);
    await close();
    process.exit(results.length > 0 && results.every((r) => r.outcome === 'readable') ? 0 : 1);
  }

  const server =
    options.metricsPort > 0
      ? createServer((req, res) => {
          if (req.url === '/metrics') {
            void metrics.registry.metrics().then((body) => {
              res.writeHead(200, { 'content-type': metrics.registry.contentType });
              res.end(body);
            });
          } else {
            res.writeHead(404).end();
          }
        }).listen(options.metricsPort, '127.0.0.1')
      : null;
  canary.start(options.intervalMs);
  process.stdout.write(`churnfeat canary: probing ${canary.plans.map((p) => `${topics.sources[p.source]} (${p.eventType} -> ${p.feature.name})`).join(', ')} every ${options.intervalMs / 1000} s, reading via ${options.readVia}\n`);
  const shutdown = async (): Promise<void> => {
    server?.close();
    await close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
}

await main();
