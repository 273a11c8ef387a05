import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  DeletionConflictError,
  DeletionRegistry,
  deletionMetricsText,
  ErasedUsers,
  isErasedRow,
  oldestOpenAgeSeconds,
  parseDeletionRequest,
  tombstoneHorizonMs,
} from '../../../sidecar/src/deletion/index.ts';
import { RAW_TOPIC_MAX_RECORD_LIFETIME_MS } from '../../../sidecar/src/kafka/index.ts';
import { deadLetterUsers, LocalLakeStorage, type DeadLetterRow, type LakeRow } from '../../../sidecar/src/lake/index.ts';

const NOW = Date.parse('2026-12-01T12:00:00Z');
const HOUR = 3_600_000;

function registry(clock: () => number = () => NOW): DeletionRegistry {
  const dir = mkdtempSync(join(tmpdir(), 'churnfeat-deletion-unit-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return new DeletionRegistry(new LocalLakeStorage(dir), clock);
}

describe('a deletion request', () => {
  it('is accepted with request_id and user_id, received_at defaulting to now', () => {
    expect(parseDeletionRequest({ request_id: 'r-1', user_id: 'u_1' }, NOW)).toEqual({ ok: true, request: { request_id: 'r-1', user_id: 'u_1', received_at: '2026-12-01T12:00:00.000Z' } });
  });

  it.each([
    [null, '(body)'],
    [[], '(body)'],
    [{ user_id: 'u' }, 'request_id'],
    [{ request_id: 'r/../x', user_id: 'u' }, 'request_id'],
    [{ request_id: 'r', user_id: 'u 1' }, 'user_id'],
    [{ request_id: 'r', user_id: 'x'.repeat(65) }, 'user_id'],
    [{ request_id: 'r', user_id: 'u', received_at: 'yesterday' }, 'received_at'],
    [{ request_id: 'r', user_id: 'u', received_at: '2026-12-02T12:00:00Z' }, 'received_at'],
    [{ request_id: 'r', user_id: 'u', reason: 'x' }, 'reason'],
  ])('is refused naming the bad field: %j', (body, field) => {
    const parsed = parseDeletionRequest(body, NOW);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.field).toBe(field);
  });
});

describe('the deletion registry', () => {
  it('is idempotent by request id, refuses a request id reused for another user, and closes a request once every store is done', async () => {
    const reg = registry();
    const first = await reg.register({ request_id: 'r1', user_id: 'u1', received_at: '2026-12-01T11:00:00.000Z' }, 'cli');
    expect(first.created).toBe(true);
    expect(first.record.deleted_before_ms).toBe(NOW);
    const again = await reg.register({ request_id: 'r1', user_id: 'u1', received_at: '2026-12-01T11:30:00.000Z' }, 'http');
    expect(again).toEqual({ record: first.record, created: false });
    await expect(reg.register({ request_id: 'r1', user_id: 'u2', received_at: '2026-12-01T11:00:00.000Z' }, 'topic')).rejects.toBeInstanceOf(DeletionConflictError);
    expect((await reg.open()).map((r) => r.request_id)).toEqual(['r1']);
    let record = first.record;
    for (const store of ['online', 'lake'] as const) record = await reg.markDone(record, store, 'scan: 0');
    expect(record.closed_at).toBeNull();
    record = await reg.markFailed(record, 'warehouse', 'dbt away');
    expect(record.stores.warehouse).toMatchObject({ state: 'open', attempts: 1, last_error: 'dbt away' });
    record = await reg.markDone(record, 'warehouse', 'scan: 0');
    expect(record.closed_at).not.toBeNull();
    expect(await reg.open()).toEqual([]);
    expect(await reg.get('r1')).toEqual(record);
  });

  it('reports the age of the oldest open request from its receipt, and 0 when none is open', async () => {
    const reg = registry();
    await reg.register({ request_id: 'a', user_id: 'u1', received_at: '2026-12-01T10:00:00.000Z' }, 'cli');
    await reg.register({ request_id: 'b', user_id: 'u2', received_at: '2026-11-30T12:00:00.000Z' }, 'cli');
    const open = await reg.open();
    expect(oldestOpenAgeSeconds(open, NOW)).toBe(24 * 3600);
    expect(oldestOpenAgeSeconds([], NOW)).toBe(0);
    expect(deletionMetricsText(open, NOW)).toContain('churnfeat_deletion_oldest_open_request_age_seconds 86400\n');
  });

  it("gives the lake writer the erased users: a record from before the user's erasure is dropped, one from after is kept", async () => {
    const reg = registry();
    await reg.register({ request_id: 'a', user_id: 'u1', received_at: '2026-12-01T10:00:00.000Z' }, 'cli');
    const erased = new ErasedUsers(reg);
    await erased.refresh();
    expect(erased.erased('u1', NOW - 1)).toBe(true);
    expect(erased.erased('u1', NOW)).toBe(false);
    expect(erased.erased('u2', NOW - 1)).toBe(false);
  });
});

describe('the erasure of lake rows', () => {
  const event = (user: string, eventMs: number): LakeRow => ({ user_id: user, event_ms: BigInt(eventMs) }) as LakeRow;
  const dead = (key: string | null, payload: unknown, kafkaTs: number): DeadLetterRow =>
    ({
      kafka_key_b64: key === null ? null : Buffer.from(key).toString('base64'),
      payload_b64: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)).toString('base64'),
      kafka_ts_ms: BigInt(kafkaTs),
    }) as DeadLetterRow;
  const targets = new Map([['u1', NOW]]);

  it("removes a target user's events from before the deletion and keeps the returning customer's later ones", () => {
    expect(isErasedRow('events', event('u1', NOW - 1), targets)).toBe(true);
    expect(isErasedRow('events', event('u1', NOW), targets)).toBe(false);
    expect(isErasedRow('events', event('u2', NOW - 1), targets)).toBe(false);
  });

  it('finds the user of a dead letter by its record key or its payload, and judges it by its Kafka timestamp', () => {
    expect(deadLetterUsers(dead('u1', 'not json', 0))).toEqual(['u1']);
    expect(deadLetterUsers(dead(null, { user_id: 'u1', event_ts: 'bad' }, 0))).toEqual(['u1']);
    expect(deadLetterUsers(dead('not a user!', '{"user_id": 7}', 0))).toEqual([]);
    expect(isErasedRow('dead_letter', dead(null, { user_id: 'u1' }, NOW - 1), targets)).toBe(true);
    expect(isErasedRow('dead_letter', dead('u1', '', NOW + 1), targets)).toBe(false);
  });
});

describe('the tombstone horizon', () => {
  it('outlives the allowed lateness plus the longest a raw topic keeps a record, with a day of margin', () => {
    expect(RAW_TOPIC_MAX_RECORD_LIFETIME_MS).toBeLessThan(72 * HOUR);
    expect(tombstoneHorizonMs(24 * HOUR)).toBe(24 * HOUR + RAW_TOPIC_MAX_RECORD_LIFETIME_MS + 24 * HOUR);
  });
});
