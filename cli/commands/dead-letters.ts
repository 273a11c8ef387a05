/**
 * `churnfeat dead-letters inspect|replay`: the dead-letter topic for a human. `inspect`
 * prints counts by reason and by source topic and samples with the original bytes (JSON);
 * `replay` sends selected dead letters back to their source topic after a fix, once each,
 * with an audit record per replay on <namespace>.dead-letter-replays (docs/data-quality.md).
 */
import { logLevel } from 'kafkajs';
import { COMMON_OPTIONS, createKafkaClient, defineOption, KAFKA_SECURITY_OPTIONS, loadOptions, SCHEMAS } from '../../sidecar/src/config/index.ts';
import { UsageError } from '../../sidecar/src/config/option-table.ts';
import { isSource, type Source } from '../../sidecar/src/events/index.ts';
import { topicNames } from '../../sidecar/src/kafka/index.ts';
import { inspectDeadLetters, readTopicToEnd, replayAuditTopic, replayDeadLetters, selectDeadLetters, summaryOf, type DeadLetterFilter } from '../../sidecar/src/quality/index.ts';
import { EXIT, tableUsage, type Command } from '../command.ts';

export const DEAD_LETTERS_OPTIONS = {
  brokers: COMMON_OPTIONS.brokers,
  ...KAFKA_SECURITY_OPTIONS,
  topicNamespace: COMMON_OPTIONS.topicNamespace,
  maxPayloadBytes: COMMON_OPTIONS.maxPayloadBytes,
  reason: defineOption<string[]>({ kind: 'list', description: 'only dead letters of these reasons (comma-separated)', default: [], schema: { type: 'array', items: { type: 'string' } } }),
  source: defineOption<string[]>({
    kind: 'list',
    description: 'only dead letters of these sources: client, billing, support',
    default: [],
    schema: { type: 'array', items: { enum: ['client', 'billing', 'support'] } },
  }),
  id: defineOption<string[]>({
    kind: 'list',
    description: 'only these dead letters, as partition:offset of the dead-letter topic',
    default: [],
    schema: { type: 'array', items: { type: 'string', pattern: '^[0-9]+:[0-9]+$' } },
  }),
  samples: defineOption<number>({ kind: 'integer', description: 'inspect: samples printed per reason', default: 3, schema: SCHEMAS.nonNegativeInteger }),
  dryRun: defineOption<boolean>({ kind: 'boolean', description: 'replay: say what would be sent, send nothing', default: false, schema: SCHEMAS.boolean }),
  force: defineOption<boolean>({ kind: 'boolean', description: 'replay: send again dead letters already replayed (the store still applies each event once)', default: false, schema: SCHEMAS.boolean }),
  operator: defineOption<string>({
    kind: 'string',
    description: 'replay: who replays (in the audit record)',
    default: process.env.USER ?? 'unknown',
    env: ['CHURNFEAT_OPERATOR'],
    schema: SCHEMAS.nonEmpty,
  }),
  note: defineOption<string>({ kind: 'string', description: 'replay: why (the fix), in the audit record', default: '', schema: { type: 'string' } }),
} as const;

const ACTIONS = ['inspect', 'replay'] as const;

export const command: Command = {
  usage: () =>
    tableUsage(
      'dead-letters inspect|replay [options]',
      'inspect: counts by reason and source topic, samples with the original bytes (JSON on stdout).\nreplay: selected dead letters back to their source topic after a fix, once each, audited on <namespace>.dead-letter-replays.',
      DEAD_LETTERS_OPTIONS,
      'A replay needs a selection (--reason, --source or --id). Exit 1: some selected records are still invalid.\n',
    ),
  async run(argv) {
    const [action, ...rest] = argv;
    if (!ACTIONS.includes(action as (typeof ACTIONS)[number])) throw new UsageError(action ? `unknown action ${action} (inspect or replay)` : 'an action is needed: inspect or replay');
    const options = loadOptions(DEAD_LETTERS_OPTIONS, rest);
    const filter: DeadLetterFilter = { reasons: options.reason, sources: options.source.filter((s): s is Source => isSource(s)), ids: options.id };
    const topics = topicNames(options.topicNamespace);
    const kafka = createKafkaClient(options, { clientId: 'churnfeat-dead-letters', logLevel: logLevel.ERROR });
    if (action === 'inspect') {
      const sourceOf = new Map<string, Source>(Object.entries(topics.sources).map(([s, t]) => [t, s as Source]));
      const letters = selectDeadLetters(await readTopicToEnd(kafka, topics.deadLetter), filter, (t) => sourceOf.get(t));
      process.stdout.write(`${JSON.stringify(inspectDeadLetters(topics.deadLetter, letters, options.samples), null, 2)}\n`);
      return EXIT.ok;
    }
    if (!filter.reasons?.length && !filter.sources?.length && !filter.ids?.length) throw new UsageError('replay needs a selection: --reason, --source or --id');
    const result = await replayDeadLetters(kafka, {
      topics,
      auditTopic: replayAuditTopic(options.topicNamespace),
      filter,
      maxPayloadBytes: options.maxPayloadBytes,
      force: options.force,
      dryRun: options.dryRun,
      operator: options.operator,
      note: options.note,
    });
    process.stdout.write(`${JSON.stringify({ ...summaryOf(result), dry_run: options.dryRun, ...result }, null, 2)}\n`);
    return result.stillInvalid.length > 0 ? EXIT.failed : EXIT.ok;
  },
};
