import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, KafkaMessage, Producer } from 'kafkajs';
import { ensureTopic } from '../kafka/index.ts';
import { DEDUP_ENTRY_BYTES } from '../store/index.ts';
import type { DedupChange } from './dedup-index.ts';

/** The changelog topic of a source topic: the members each batch applied or replayed, per partition. */
export function changelogTopic(sourceTopic: string): string {
  return `${sourceTopic}.dedup-changelog`;
}

/**
 * Header of a changelog record: the changelog offset a rebuild of its partition starts reading
 * at (the oldest record whose call clock is within the dedup horizon + slack of this one's);
 * absent: this record itself.
 */
export const FROM_HEADER = 'churnfeat.dedup.from';
/**
 * Header: the call clock (ms) from which the writer's index held every member of the horizon
 * (a partition whose changelog starts later is warmed up: Redis keeps deduplicating until then).
 */
export const COVERED_HEADER = 'churnfeat.dedup.covered_from';

const FORMAT = 1;
/** Most entry bytes per changelog record, and per send (one record each): far below the broker's 1 MB per batch. */
const BYTES_PER_RECORD = 256 * 1024;

/** The value of one changelog record: per user its id, the call's bound and clock and the appended entries. */
export function encodeChanges(changes: readonly DedupChange[]): Buffer {
  const parts: Buffer[] = [Buffer.from([FORMAT])];
  for (const change of changes) {
    const user = Buffer.from(change.userId);
    const head = Buffer.alloc(2 + user.length + 8 + 8 + 2);
    head.writeUInt16BE(user.length, 0);
    user.copy(head, 2);
    head.writeDoubleBE(change.boundS, 2 + user.length);
    head.writeDoubleBE(change.clockMs, 10 + user.length);
    head.writeUInt16BE(change.appended.length / DEDUP_ENTRY_BYTES, 18 + user.length);
    parts.push(head, Buffer.from(change.appended, 'latin1'));
  }
  return Buffer.concat(parts);
}

/** One user's part of a changelog record. */
export interface ChangelogEntry {
  userId: string;
  boundS: number;
  clockMs: number;
  appended: string;
}

/** The entries of one changelog record's value; throws on a value this version did not write. */
export function decodeChanges(value: Buffer): ChangelogEntry[] {
  if (value[0] !== FORMAT) throw new Error(`dedup changelog record of unknown format ${String(value[0])}`);
  const entries: ChangelogEntry[] = [];
  let at = 1;
  while (at < value.length) {
    const userLength = value.readUInt16BE(at);
    const userId = value.toString('utf8', at + 2, at + 2 + userLength);
    at += 2 + userLength;
    const boundS = value.readDoubleBE(at);
    const clockMs = value.readDoubleBE(at + 8);
    const n = value.readUInt16BE(at + 16);
    at += 18;
    entries.push({ userId, boundS, clockMs, appended: value.toString('latin1', at, at + n * DEDUP_ENTRY_BYTES) });
    at += n * DEDUP_ENTRY_BYTES;
  }
  return entries;
}

/** Topic config of a changelog: delete (never compact: a record is a call, not a key's value), kept for `retentionMs`. */
export function changelogConfig(retentionMs: number): Array<{ name: string; value: string }> {
  return [
    { name: 'cleanup.policy', value: 'delete' },
    { name: 'retention.ms', value: String(retentionMs) },
  ];
}

/** Creates the changelog of a source topic (same partition count) unless it exists. */
export async function ensureChangelog(admin: Admin, sourceTopic: string, retentionMs: number): Promise<string> {
  const topic = changelogTopic(sourceTopic);
  const [metadata] = (await admin.fetchTopicMetadata({ topics: [sourceTopic] })).topics;
  await ensureTopic(admin, topic, metadata?.partitions.length ?? 1, changelogConfig(retentionMs));
  return topic;
}

/**
 * Sends one batch's changes to a partition of the changelog, acks=all; returns the first
 * record's offset. The records keep the broker's timestamp (wall clock: retention counts from
 * it); the call clocks the rebuild goes by are in the value.
 */
export async function sendChanges(producer: Producer, topic: string, partition: number, changes: readonly DedupChange[], headers: Record<string, string>): Promise<string | null> {
  let first: string | null = null;
  for (let at = 0; at < changes.length;) {
    const part: DedupChange[] = [];
    let bytes = 0;
    while (at < changes.length && (part.length === 0 || bytes + (changes[at] as DedupChange).appended.length < BYTES_PER_RECORD)) {
      bytes += (changes[at] as DedupChange).appended.length + 64;
      part.push(changes[at++] as DedupChange);
    }
    const [sent] = await producer.send({ topic, acks: -1, messages: [{ partition, value: encodeChanges(part), headers }] });
    first ??= sent?.baseOffset ?? null;
  }
  return first;
}

/** What a rebuild read from one partition. */
export interface RebuildRead {
  partition: number;
  records: number;
  entries: number;
  /** Offset and clock of each record read (the writer keeps them to name the next record's start). */
  positions: Array<{ offset: string; clockMs: number }>;
  /** The covered-from clock the last record named; null for an empty changelog. */
  coveredFromMs: number | null;
}

const headerText = (message: KafkaMessage, name: string): string | undefined => {
  const value = message.headers?.[name];
  return value === undefined ? undefined : String(Array.isArray(value) ? value[0] : value);
};

/**
 * Reads the live part of some partitions of a changelog: the last record names where that is
 * (its {@link FROM_HEADER}), then everything from there up to the end as it was when the read
 * began. `onEntry` gets each entry in changelog order. One short-lived consumer of a group of
 * its own, which never commits and is deleted after.
 */
export async function readChangelog(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  partitions: readonly number[],
  onEntry: (partition: number, entry: ChangelogEntry) => void,
  timeoutMs = 120_000,
): Promise<Map<number, RebuildRead>> {
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, { low: BigInt(p.low), high: BigInt(p.high) }]));
  const reads = new Map<number, RebuildRead>(partitions.map((p) => [p, { partition: p, records: 0, entries: 0, positions: [], coveredFromMs: null }]));
  const pending = new Map<number, { high: bigint; phase: 'last' | 'read' }>();
  for (const p of partitions) {
    const end = ends.get(p);
    if (end && end.high > end.low) pending.set(p, { high: end.high, phase: 'last' });
  }
  if (pending.size === 0) return reads;
  const groupId = `churnfeat-dedup-rebuild-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000, maxBytesPerPartition: 4 << 20 });
  let finish: (error?: Error) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = (error) => (error ? reject(error) : resolve());
  });
  const timer = setTimeout(() => finish(new Error(`dedup changelog ${topic}: rebuild not done after ${timeoutMs} ms`)), timeoutMs);
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, isRunning, isStale, heartbeat }) => {
        const state = pending.get(batch.partition);
        if (!state) return;
        for (const message of batch.messages) {
          if (!isRunning() || isStale()) return;
          const offset = BigInt(message.offset);
          if (offset >= state.high) break;
          if (state.phase === 'last') {
            const from = BigInt(headerText(message, FROM_HEADER) ?? message.offset);
            state.phase = 'read';
            if (from < offset) {
              consumer.seek({ topic, partition: batch.partition, offset: String(from > 0n ? from : 0n) });
              return;
            }
          }
          const read = reads.get(batch.partition) as RebuildRead;
          const entries = decodeChanges(message.value as Buffer);
          read.records += 1;
          read.positions.push({ offset: message.offset, clockMs: entries.reduce((max, e) => Math.max(max, e.clockMs), -Infinity) });
          const covered = headerText(message, COVERED_HEADER);
          if (covered !== undefined) read.coveredFromMs = Number(covered);
          for (const entry of entries) {
            read.entries += entry.appended.length / DEDUP_ENTRY_BYTES;
            onEntry(batch.partition, entry);
          }
          if (offset === state.high - 1n) {
            pending.delete(batch.partition);
            if (pending.size === 0) finish();
            return;
          }
        }
        await heartbeat();
      },
    });
    // a group of its own: it is given every partition; start each wanted one at its last record
    for (const [partition, state] of pending) consumer.seek({ topic, partition, offset: String(state.high - 1n) });
    await done;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
  }
  return reads;
}
