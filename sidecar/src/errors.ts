/**
 * Closed list of error codes the sidecar raises or reports in its health (`lastError.code`):
 * `redis_library_missing` = Redis lost the function library (restarted empty) and the sidecar
 * loads it again; `registry_foreign` = the store's registry marker names another version;
 * `redis_replicas_behind` = WAIT saw fewer replicas than asked, the batch is written again;
 * `version_refused` = a lifecycle step (cutover, rollback, retire, gc) or a sidecar's start was
 * refused by the version catalog, the message says why (docs/lifecycle.md).
 * `bootstrap_refused` = `churnfeat bootstrap` was asked to write into the active version's keyspace.
 */
export const ERROR_CODES = [
  'invalid_config',
  'invalid_feature_definition',
  'stale_feature_registry',
  'redis_unavailable',
  'kafka_unavailable',
  'redis_script_failed',
  'redis_library_missing',
  'registry_foreign',
  'redis_replicas_behind',
  'version_refused',
  'bootstrap_refused',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** Base error: a code, an optional cause, and whether retrying can help. */
export class ChurnfeatError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ChurnfeatError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** A feature definition is wrong: names the file, the feature and the field. */
export class FeatureDefinitionError extends ChurnfeatError {
  readonly file: string;
  readonly feature: string;
  readonly field: string;

  constructor(file: string, feature: string, field: string, problem: string) {
    super('invalid_feature_definition', `${file}: feature "${feature}", field "${field}": ${problem}`);
    this.name = 'FeatureDefinitionError';
    this.file = file;
    this.feature = feature;
    this.field = field;
  }
}
