import { deadLetterUsers, type DeadLetterRow, type LakeKind, type LakeRow } from '../lake/index.ts';

/** Users to erase: user id -> deleted_before_ms. */
export type ErasureTargets = ReadonlyMap<string, number>;

/** True when the row is one an erasure removes: a target user's, from before the deletion. */
export function isErasedRow(kind: LakeKind, row: LakeRow | DeadLetterRow, targets: ErasureTargets): boolean {
  if (kind === 'events') {
    const before = targets.get((row as LakeRow).user_id);
    return before !== undefined && Number((row as LakeRow).event_ms) < before;
  }
  // A dead letter has no valid event time: its Kafka timestamp decides.
  const dead = row as DeadLetterRow;
  return deadLetterUsers(dead).some((user) => {
    const before = targets.get(user);
    return before !== undefined && Number(dead.kafka_ts_ms) < before;
  });
}
