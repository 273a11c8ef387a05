/**
 * `churnfeat topics apply [--dry-run]`: applies the raw topics' retention of the 72 h deletion
 * SLA (RAW_TOPIC_CONFIG: retention.ms 48 h, segment.ms 6 h, cleanup.policy delete) to the
 * existing raw topics of `--topic-namespace` with AlterConfigs, keeping their other overrides;
 * idempotent. Prints one JSON line per topic with its values before and after.
 * Exit 0 applied (or nothing to do), 1 a raw topic is missing or the broker refused, 2 bad command line.
 */
import { createKafkaClient, loadOptions } from '../../sidecar/src/config/index.ts';
import { UsageError } from '../../sidecar/src/config/option-table.ts';
import { applyRawTopicRetention, INTAKE_LOG_LEVEL, TOPICS_OPTIONS } from '../../sidecar/src/deletion/index.ts';
import { topicNames } from '../../sidecar/src/kafka/index.ts';
import { EXIT, tableUsage, type Command } from '../command.ts';

export const command: Command = {
  usage: () => tableUsage('topics apply [--dry-run] [options]', "Applies the raw topics' deletion-SLA retention (RAW_TOPIC_CONFIG) to the existing raw topics, printing before/after.", TOPICS_OPTIONS),
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub !== 'apply') throw new UsageError('expected a subcommand: apply');
    const options = loadOptions(TOPICS_OPTIONS, rest);
    const admin = createKafkaClient(options, { clientId: 'churnfeat-topics', logLevel: INTAKE_LOG_LEVEL }).admin();
    await admin.connect();
    try {
      const changes = await applyRawTopicRetention(admin, topicNames(options.topicNamespace), { dryRun: options.dryRun });
      for (const change of changes) process.stdout.write(`${JSON.stringify(change)}\n`);
      const missing = changes.filter((c) => c.action === 'missing');
      if (missing.length > 0) process.stderr.write(`churnfeat topics apply: ${missing.length} raw topics do not exist: ${missing.map((c) => c.topic).join(', ')}\n`);
      return missing.length > 0 ? EXIT.failed : EXIT.ok;
    } finally {
      await admin.disconnect();
    }
  },
};
