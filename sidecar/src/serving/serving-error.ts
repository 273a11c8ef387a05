/** Closed list of the serving layer's error codes. */
export const SERVING_ERROR_CODES = [
  /** A user id does not match USER_ID_PATTERN. */
  'invalid_user_id',
  /** A batch is empty or longer than the limit. */
  'invalid_batch',
  /** A query parameter is malformed or unknown (the message names it). */
  'invalid_parameter',
  /** Redis did not answer (connection refused, timeout, closed). */
  'store_unavailable',
  /** The read function of this registry is not loaded in Redis (another registry is live). */
  'registry_mismatch',
] as const;

export type ServingErrorCode = (typeof SERVING_ERROR_CODES)[number];

/** An error of the read path: a code, an optional cause, and whether retrying can help. */
export class ServingError extends Error {
  readonly code: ServingErrorCode;
  readonly retryable: boolean;

  constructor(code: ServingErrorCode, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ServingError';
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}
