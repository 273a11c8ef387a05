import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { isSource, parseEvent, type Source } from '../events/index.ts';
import { decodeHeaders, ensureTopic, type TopicNames } from '../kafka/index.ts';

/** One record of the dead-letter topic: where it sits, the original key and bytes, the headers the sidecar wrote. */
export interface DeadLetter {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** The audit topic of dead-letter replays: one record per replayed dead letter, one per run. */
export function replayAuditTopic(namespace: string): string {
  return `${namespace}.dead-letter-replays`;
}

/**
 * Every record of `topic` up to its high watermarks at the call, read by a throwaway
 * consumer group that commits nothing (the topic is left as it was).
 */
export async function readTopicToEnd(kafka: Kafka, topic: string, timeoutMs = 60_000): Promise<DeadLetter[]> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, bigint>;
  try {
    if (!(await admin.listTopics()).includes(topic)) return [];
    ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
  } finally {
    await admin.disconnect();
  }
  const pending = new Set([...ends].filter(([, high]) => high > 0n).map(([p]) => p));
  const records: DeadLetter[] = [];
  if (pending.size === 0) return records;
  const consumer = kafka.consumer({ groupId: `churnfeat-read-${randomUUID()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${topic}: partitions ${[...pending].join(', ')} not read to their end within ${timeoutMs} ms`)), timeoutMs);
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const high = ends.get(partition) ?? 0n;
            if (BigInt(message.offset) < high) records.push({ partition, offset: message.offset, key: message.key, value: message.value, headers: decodeHeaders(message.headers) });
            if (BigInt(message.offset) >= high - 1n) pending.delete(partition);
            if (pending.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}

/** What selects dead letters for inspect and replay (every filter given must match). */
export interface DeadLetterFilter {
  reasons?: readonly string[];
  sources?: readonly Source[];
  /** `partition:offset` of single dead letters. */
  ids?: readonly string[];
}

export function deadLetterId(d: DeadLetter): string {
  return `${d.partition}:${d.offset}`;
}

export function selectDeadLetters(all: readonly DeadLetter[], filter: DeadLetterFilter, sourceOfTopic: (topic: string) => Source | undefined): DeadLetter[] {
  return all.filter((d) => {
    if (filter.reasons?.length && !filter.reasons.includes(d.headers['churnfeat.reason'] ?? '')) return false;
    if (filter.sources?.length && !filter.sources.includes(sourceOfTopic(d.headers['churnfeat.source.topic'] ?? '') as Source)) return false;
    if (filter.ids?.length && !filter.ids.includes(deadLetterId(d))) return false;
    return true;
  });
}

/** A sample of a dead letter for a human: where it came from, why, and the original bytes. */
export interface DeadLetterSample {
  dead_letter: { partition: number; offset: string };
  source: { topic: string; partition: number; offset: string };
  reason: string;
  detail: string;
  key: string | null;
  bytes: number;
  /** The original bytes, exactly (base64). */
  value_base64: string;
  /** The same bytes as text when they are UTF-8 (first 2,000 characters). */
  value_text: string | null;
  /** The dead letter holds only a prefix: the whole original is in the source topic and the lake. */
  truncated: boolean;
}

export interface DeadLetterReport {
  topic: string;
  total: number;
  byReason: Record<string, number>;
  bySourceTopic: Record<string, number>;
  samples: DeadLetterSample[];
}

function sampleOf(d: DeadLetter): DeadLetterSample {
  const value = d.value ?? Buffer.alloc(0);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(value);
  const isUtf8 = Buffer.from(text, 'utf8').equals(value);
  return {
    dead_letter: { partition: d.partition, offset: d.offset },
    source: { topic: d.headers['churnfeat.source.topic'] ?? '', partition: Number(d.headers['churnfeat.source.partition']), offset: d.headers['churnfeat.source.offset'] ?? '' },
    reason: d.headers['churnfeat.reason'] ?? 'unknown',
    detail: d.headers['churnfeat.detail'] ?? '',
    key: d.key?.toString('utf8') ?? null,
    bytes: Number(d.headers['churnfeat.original_bytes'] ?? value.length),
    value_base64: value.toString('base64'),
    value_text: isUtf8 ? text.slice(0, 2_000) : null,
    truncated: d.headers['churnfeat.value_truncated'] === 'true',
  };
}

/** Counts by reason and by source topic, and the first `samples` dead letters of each reason. */
export function inspectDeadLetters(topic: string, letters: readonly DeadLetter[], samples: number): DeadLetterReport {
  const byReason: Record<string, number> = {};
  const bySourceTopic: Record<string, number> = {};
  const out: DeadLetterSample[] = [];
  for (const d of letters) {
    const reason = d.headers['churnfeat.reason'] ?? 'unknown';
    byReason[reason] = (byReason[reason] ?? 0) + 1;
    const source = d.headers['churnfeat.source.topic'] ?? 'unknown';
    bySourceTopic[source] = (bySourceTopic[source] ?? 0) + 1;
    if ((byReason[reason] as number) <= samples) out.push(sampleOf(d));
  }
  return { topic, total: letters.length, byReason, bySourceTopic, samples: out };
}

export interface ReplayOptions {
  topics: TopicNames;
  auditTopic: string;
  filter: DeadLetterFilter;
  /** The parser's size limit after the fix (the sidecar's --max-payload-bytes). */
  maxPayloadBytes: number;
  /** Replay again dead letters the audit topic says were replayed already (the store's dedup still applies them once). */
  force: boolean;
  dryRun: boolean;
  operator: string;
  note: string;
}

/** What a replay did, dead letter by dead letter. */
export interface ReplayResult {
  runId: string;
  selected: number;
  replayed: Array<{ id: string; to: { topic: string; partition: number; offset: string } }>;
  /** Already in the audit topic (skipped unless --force). */
  alreadyReplayed: string[];
  /** Still rejected by the parser as it is now: not sent. */
  stillInvalid: Array<{ id: string; reason: string; detail: string }>;
  /** Only a prefix is in the dead letter (the original was too large for it): replay from the source topic or the lake instead. */
  truncated: string[];
}

/**
 * Sends selected dead letters back to their source topic, exactly as they were (key,
 * bytes), once each: a dead letter whose replay the audit topic records is skipped, and the
 * store's dedup by event key applies an event once even when it is sent again (--force).
 * Each replay leaves an audit record (who, when, why, from where to where), and each run
 * one more. Records the parser still rejects are not sent.
 */
export async function replayDeadLetters(kafka: Kafka, options: ReplayOptions): Promise<ReplayResult> {
  const runId = randomUUID();
  const sourceOfTopic = new Map<string, Source>(Object.entries(options.topics.sources).map(([s, t]) => [t, s as Source]));
  const all = await readTopicToEnd(kafka, options.topics.deadLetter);
  const selected = selectDeadLetters(all, options.filter, (t) => sourceOfTopic.get(t));
  const audited = new Set(
    (await readTopicToEnd(kafka, options.auditTopic)).flatMap((r) => {
      const key = r.key?.toString() ?? '';
      return key.startsWith('dead-letter:') ? [key.slice('dead-letter:'.length)] : [];
    }),
  );
  const result: ReplayResult = { runId, selected: selected.length, replayed: [], alreadyReplayed: [], stillInvalid: [], truncated: [] };
  const toSend: Array<{ d: DeadLetter; topic: string; source: Source }> = [];
  for (const d of selected) {
    const id = deadLetterId(d);
    if (audited.has(id) && !options.force) {
      result.alreadyReplayed.push(id);
      continue;
    }
    if (d.headers['churnfeat.value_truncated'] === 'true') {
      result.truncated.push(id);
      continue;
    }
    const topic = d.headers['churnfeat.source.topic'] ?? '';
    const source = sourceOfTopic.get(topic);
    if (source === undefined || !isSource(source)) {
      result.stillInvalid.push({ id, reason: 'unknown_source_topic', detail: `header churnfeat.source.topic ${JSON.stringify(topic)} is none of this namespace's source topics` });
      continue;
    }
    const parsed = parseEvent(source, d.value, { maxBytes: options.maxPayloadBytes });
    if (!parsed.ok) {
      result.stillInvalid.push({ id, reason: parsed.reason, detail: parsed.detail });
      continue;
    }
    toSend.push({ d, topic, source });
  }
  if (options.dryRun || toSend.length === 0) return result;
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopic(admin, options.auditTopic, 1);
    } finally {
      await admin.disconnect();
    }
    const at = new Date().toISOString();
    for (const { d, topic } of toSend) {
      const id = deadLetterId(d);
      const [meta] = await producer.send({
        topic,
        acks: -1,
        messages: [{ key: d.key, value: d.value, headers: { 'churnfeat.replay.of': `${options.topics.deadLetter}:${id}`, 'churnfeat.replay.run': runId } }],
      });
      const to = { topic, partition: meta?.partition ?? -1, offset: meta?.baseOffset ?? '' };
      result.replayed.push({ id, to });
      // Audited after the send: a crash in between replays it again next run, which the store's dedup absorbs.
      await producer.send({
        topic: options.auditTopic,
        acks: -1,
        messages: [
          {
            key: `dead-letter:${id}`,
            value: JSON.stringify({
              run_id: runId,
              at,
              operator: options.operator,
              note: options.note,
              dead_letter: { topic: options.topics.deadLetter, partition: d.partition, offset: d.offset },
              original: { topic, partition: Number(d.headers['churnfeat.source.partition']), offset: d.headers['churnfeat.source.offset'], reason: d.headers['churnfeat.reason'] },
              replayed_to: to,
              forced: audited.has(id),
            }),
          },
        ],
      });
    }
    await producer.send({
      topic: options.auditTopic,
      acks: -1,
      messages: [
        { key: `run:${runId}`, value: JSON.stringify({ run_id: runId, at, operator: options.operator, note: options.note, filter: options.filter, force: options.force, ...summaryOf(result) }) },
      ],
    });
  } finally {
    await producer.disconnect();
  }
  return result;
}

/** Counts of a replay result (what the audit's run record and the CLI print). */
export function summaryOf(r: ReplayResult): Record<string, number | string> {
  return { run_id: r.runId, selected: r.selected, replayed: r.replayed.length, already_replayed: r.alreadyReplayed.length, still_invalid: r.stillInvalid.length, truncated: r.truncated.length };
}
