/**
 * The user id format the serving layer accepts: the same class as the event contract
 * (contracts/events/envelope.schema.json), because the id is embedded in a Redis hash tag.
 */
export const USER_ID_PATTERN = '^[A-Za-z0-9_.-]{1,64}$';

const USER_ID = new RegExp(USER_ID_PATTERN);

/** True when `value` is a user id the store can hold. */
export function isValidUserId(value: unknown): value is string {
  return typeof value === 'string' && USER_ID.test(value);
}
