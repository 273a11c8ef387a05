/**
 * `churnfeat canary`: the freshness canary. A probe event to every partition of every
 * source topic each interval, timed until readable through the read path; Prometheus
 * /metrics on its port; runs until SIGTERM/SIGINT. `--once`: one round, one line per
 * probe, exit 1 if any probe failed.
 */
import { logLevel } from 'kafkajs';
import { CANARY_OPTIONS, Canary, CanaryMetrics, ClientProbeReader, HttpProbeReader, partitionCountsFromAdmin, planProbes, type ProbeReader } from '../../sidecar/src/canary/index.ts';
import { createKafkaClient, readArgOptions, readEnvOptions, resolveTable } from '../../sidecar/src/config/index.ts';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { topicNames } from '../../sidecar/src/kafka/index.ts';
import { connectFeatureClient } from '../../sidecar/src/serving/index.ts';
import { EXIT, say, tableUsage, untilSignal, type Command } from '../command.ts';
import { startMetricsServer } from './metrics-server.ts';

export const command: Command = {
  usage: () =>
    tableUsage(
      'canary [--once] [options]',
      'Probes every partition of every source topic each interval and times each probe until readable.',
      CANARY_OPTIONS,
      '  --once                                  one round: prints each probe, exits 1 if any probe failed\n',
    ),
  async run(argv) {
    const { options: flags, flags: extra } = readArgOptions(CANARY_OPTIONS, argv, { once: { type: 'boolean' } });
    const options = resolveTable(CANARY_OPTIONS, { ...readEnvOptions(CANARY_OPTIONS), ...flags });
    const registry = loadFeatureRegistry(options.dbtProjectDir);
    const log = (line: string): void => void process.stderr.write(`${new Date().toISOString()} ${line}\n`);
    const kafka = createKafkaClient(options, { clientId: 'churnfeat-canary', logLevel: logLevel.ERROR });
    const admin = kafka.admin();
    const producer = kafka.producer({ allowAutoTopicCreation: false, metadataMaxAge: options.metadataMaxAgeMs });
    await admin.connect();
    await producer.connect();
    const topics = topicNames(options.topicNamespace);
    let reader: ProbeReader;
    let closeReader = async (): Promise<void> => undefined;
    if (options.readVia === 'redis') {
      const connected = await connectFeatureClient({ redisUrl: options.redisUrl, redisTlsCa: options.redisTlsCa, prefix: options.keyPrefix, registry });
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
      partitionCounts: partitionCountsFromAdmin(
        admin,
        topics,
        planProbes(registry).plans.map((plan) => plan.source),
      ),
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

    if (extra.once) {
      const results = await canary.runOnce();
      for (const r of results) process.stdout.write(`${r.source}:${r.partition}\t${r.userId}\t${r.outcome}\t${r.seconds === null ? '-' : `${r.seconds.toFixed(3)} s`}\n`);
      await close();
      return results.length > 0 && results.every((r) => r.outcome === 'readable') ? EXIT.ok : EXIT.failed;
    }

    const server = startMetricsServer(options.metricsPort, metrics.registry);
    canary.start(options.intervalMs);
    say(
      'canary',
      `probing ${canary.plans.map((p) => `${topics.sources[p.source]} (${p.eventType} -> ${p.feature.name})`).join(', ')} every ${options.intervalMs / 1000} s, reading via ${options.readVia}`,
    );
    return untilSignal('canary', async () => {
      server?.close();
      await close();
    });
  },
};
