/**
 * Why a record was judged `invalid` (dead-lettered with its original bytes). Closed list,
 * in the order `parseEvent` checks; see contracts/README.md for one line on each.
 */
export const INVALID_REASONS = [
  'empty_payload',
  'payload_too_large',
  'invalid_utf8',
  'malformed_json',
  'not_an_object',
  'too_deep',
  'forbidden_key',
  'unknown_event_type',
  'schema_violation',
  'invalid_timestamp',
] as const;

/** One of {@link INVALID_REASONS}. */
export type InvalidReason = (typeof INVALID_REASONS)[number];

/** Type guard for a string naming one of {@link INVALID_REASONS}. */
export function isInvalidReason(value: unknown): value is InvalidReason {
  return typeof value === 'string' && (INVALID_REASONS as readonly string[]).includes(value);
}
