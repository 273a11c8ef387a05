/**
 * `churnfeat delete request|status|run|verify`: GDPR/CCPA erasure (docs/deletion.md).
 *   request  registers a request (--user, --request-id, [--received-at]); the same id again is a no-op
 *   status   prints the registry (or one --request-id) as JSON; --prom: the SLA gauges as Prometheus text
 *   run      drains the deletion topic, then erases the open requests store by store
 *            (online -> lake -> warehouse), marking a store done only when its scan finds nothing
 *   verify   scans every store again for every request it is done for; exit 1 on any leftover
 * Exit codes: 0 ok, 1 a store failed or left something, 2 bad command line or request.
 */
import { createKafkaClient, createRedisClient, loadOptions } from '../../sidecar/src/config/index.ts';
import {
  DELETION_OPTIONS,
  DeletionConflictError,
  DeletionRegistry,
  deletionMetricsText,
  deletionRequestsTopic,
  drainDeletionTopic,
  hasLeftovers,
  INTAKE_LOG_LEVEL,
  parseDeletionRequest,
  runDeletions,
  tombstoneHorizonMs,
  verifyDeletions,
  type DeletionContext,
  type DeletionOptions,
  type DeletionStore,
} from '../../sidecar/src/deletion/index.ts';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { topicNames } from '../../sidecar/src/kafka/index.ts';
import { lakeStorageFromUri, LocalLakeStorage, type LakeStorage } from '../../sidecar/src/lake/index.ts';
import { UsageError } from '../../sidecar/src/config/option-table.ts';
import { EXIT, tableUsage, type Command } from '../command.ts';

const SUBCOMMANDS = ['request', 'status', 'run', 'verify'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];
/** The flag of each request field, for the usage error. */
const FLAG_OF_FIELD: Record<string, string> = { request_id: '--request-id', user_id: '--user', received_at: '--received-at' };

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function log(event: string, fields: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ at: new Date().toISOString(), event, ...fields })}\n`);
}

async function context(options: DeletionOptions, storage: LakeStorage, registry: DeletionRegistry, stores: readonly DeletionStore[]): Promise<DeletionContext> {
  const features = loadFeatureRegistry(options.dbtProjectDir);
  const out: DeletionContext = { registry, prefix: options.keyPrefix, horizonMs: tombstoneHorizonMs(features.policies.allowedLatenessMs), log };
  if (stores.includes('online')) {
    out.redis = createRedisClient(options, { lazyConnect: true, maxRetriesPerRequest: 3 });
    await out.redis.connect();
  }
  if (stores.includes('lake')) out.lake = storage;
  if (stores.includes('warehouse')) {
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries(process.env)) if (value !== undefined) env[name] = value;
    out.warehouse = { dbtScript: options.dbtScript, target: options.dbtTarget, vars: storage instanceof LocalLakeStorage ? { lake_root: storage.root } : {}, env };
  }
  return out;
}

async function run(sub: Subcommand, options: DeletionOptions): Promise<number> {
  const storage = lakeStorageFromUri(options.lakeUri, { endpoint: options.s3Endpoint || undefined });
  const registry = new DeletionRegistry(storage);
  if (sub === 'request') {
    const body: Record<string, string> = { request_id: options.requestId, user_id: options.user };
    if (options.receivedAt !== '') body.received_at = options.receivedAt;
    const parsed = parseDeletionRequest(body);
    if (!parsed.ok) throw new UsageError(`${FLAG_OF_FIELD[parsed.field] ?? parsed.field}: ${parsed.message}`);
    try {
      const { record, created } = await registry.register(parsed.request, 'cli');
      print({ created, ...record });
      return EXIT.ok;
    } catch (error) {
      if (error instanceof DeletionConflictError) throw new UsageError(`--request-id: ${error.message}`);
      throw error;
    }
  }
  if (sub === 'status') {
    if (options.prom) {
      process.stdout.write(deletionMetricsText(await registry.open(), Date.now()));
      return EXIT.ok;
    }
    if (options.requestId !== '') {
      const record = await registry.get(options.requestId);
      if (record === null) {
        process.stderr.write(`churnfeat delete status: no request ${options.requestId}\n`);
        return EXIT.failed;
      }
      print(record);
      return EXIT.ok;
    }
    print(await registry.all());
    return EXIT.ok;
  }
  const stores = options.stores as DeletionStore[];
  const ctx = await context(options, storage, registry, stores);
  try {
    if (sub === 'run') {
      if (options.intake) {
        const kafka = createKafkaClient(options, { clientId: 'churnfeat-deletion', logLevel: INTAKE_LOG_LEVEL });
        const intake = await drainDeletionTopic(kafka, registry, {
          topic: deletionRequestsTopic(options.topicNamespace),
          groupId: options.intakeGroupId,
          deadLetterTopic: topicNames(options.topicNamespace).deadLetter,
          timeoutMs: options.intakeTimeoutMs,
        });
        log('deletion_intake', { ...intake });
      }
      const report = await runDeletions(ctx, stores);
      print(report);
      return Object.values(report).some((r) => r.failed.length > 0) ? EXIT.failed : EXIT.ok;
    }
    const report = await verifyDeletions(ctx, stores);
    print(report);
    if (hasLeftovers(report)) {
      process.stderr.write('churnfeat delete verify: LEFTOVERS FOUND: erased users still have data (see the report above)\n');
      return EXIT.failed;
    }
    return EXIT.ok;
  } finally {
    await ctx.redis?.quit().catch(() => undefined);
  }
}

export const command: Command = {
  usage: () =>
    tableUsage(
      'delete request|status|run|verify [options]',
      'GDPR/CCPA erasure: register a request, show the registry, erase the open requests in every store, verify (docs/deletion.md).',
      DELETION_OPTIONS,
    ),
  async run(argv) {
    const [sub, ...rest] = argv;
    if (!SUBCOMMANDS.includes(sub as Subcommand)) throw new UsageError(`expected a subcommand: ${SUBCOMMANDS.join(', ')}`);
    return run(sub as Subcommand, loadOptions(DELETION_OPTIONS, rest));
  },
};
