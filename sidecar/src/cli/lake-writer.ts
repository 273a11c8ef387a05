/**
 * Runs the lake writer until SIGINT/SIGTERM (then lands what is buffered and exits 0).
 *   npx tsx sidecar/src/cli/lake-writer.ts      (options from CHURNFEAT_* env vars)
 * Env: CHURNFEAT_KAFKA_BROKERS, CHURNFEAT_TOPIC_NAMESPACE, CHURNFEAT_LAKE_GROUP_ID,
 * CHURNFEAT_LAKE_URI (a folder or s3://bucket/prefix; else CHURNFEAT_LAKE_ROOT, else
 * .cache/lake), CHURNFEAT_S3_ENDPOINT, CHURNFEAT_LAKE_FLUSH_RECORDS,
 * CHURNFEAT_LAKE_FLUSH_INTERVAL_MS, CHURNFEAT_LAKE_SESSION_TIMEOUT_MS. Logs one JSON object per line on stdout.
 * A bad option exits 2 with a message naming the option.
 */
import { ChurnfeatError } from '../errors.ts';
import { LakeWriter, lakeWriterOptionsFromEnv, resolveLakeWriterOptions, type LakeWriterOptions } from '../lake/index.ts';

function log(event: string, fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), event, ...fields })}\n`);
}

let options: LakeWriterOptions;
try {
  options = resolveLakeWriterOptions(lakeWriterOptionsFromEnv());
} catch (error) {
  if (error instanceof ChurnfeatError) {
    process.stderr.write(`churnfeat lake writer: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
const writer = new LakeWriter(options, { log });
await writer.start();
let stopping = false;
const shutdown = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await writer.stop();
  process.exit(0);
};
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
void writer.fatal.then(async (error) => {
  log('exiting', { reason: 'consumer stopped for good; the orchestrator restarts the writer', error: error.message });
  await writer.stop();
  process.exit(1);
});
