import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INVALID_REASONS, type InvalidReason } from '../../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { FeatureReader } from '../../../sidecar/src/store/index.ts';
import { startSidecar } from '../../helpers/consumers.ts';
import { createTestTopics, readTopic, testProducer, topicSize } from '../../helpers/kafka.ts';
import { testRedis } from '../../helpers/redis.ts';
import { HOUR, rawEvent } from '../../helpers/reference.ts';
import { testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const registry = loadFeatureRegistry('dbt_project');

function envelope(extra: Record<string, unknown> = {}, attributes: unknown = { error_code: 'E1' }): Record<string, unknown> {
  const ts = new Date(Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR).toISOString();
  return { event_id: `bad-${Math.random().toString(36).slice(2)}`, user_id: 'fz-bad', device_id: 'd', event_type: 'playback_error', event_ts: ts, ingest_ts: ts, attributes, ...extra };
}

function nested(depth: number): unknown {
  let node: unknown = { leaf: 1 };
  for (let i = 0; i < depth; i++) node = { n: node };
  return node;
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/** The hostile corpus: each payload and the reason it must be dead-lettered with. */
function corpus(): Array<{ name: string; value: Buffer | null; reason: InvalidReason }> {
  const withoutTs = envelope();
  delete withoutTs.event_ts;
  return [
    { name: 'truncated JSON', value: Buffer.from('{"user_id": "u1", "event_type": '), reason: 'malformed_json' },
    { name: 'JSON with a trailing comma', value: Buffer.from('{"user_id": "u1",}'), reason: 'malformed_json' },
    { name: '70 KB payload', value: json(envelope({}, { error_code: 'E1', blob: 'x'.repeat(70 * 1024) })), reason: 'payload_too_large' },
    { name: 'nesting 40 deep', value: json(envelope({}, nested(40))), reason: 'too_deep' },
    { name: '60,000 open brackets', value: Buffer.from('['.repeat(60_000)), reason: 'malformed_json' },
    { name: '__proto__ at the top', value: Buffer.from(`{"__proto__": {"polluted": "yes"}, ${JSON.stringify(envelope()).slice(1)}`), reason: 'forbidden_key' },
    { name: '__proto__ in attributes', value: Buffer.from(JSON.stringify(envelope()).replace('"attributes":{', '"attributes":{"__proto__":{"polluted":"yes"},')), reason: 'forbidden_key' },
    { name: 'constructor.prototype in attributes', value: json(envelope({}, { error_code: 'E1', constructor: { prototype: { polluted: 'yes' } } })), reason: 'forbidden_key' },
    { name: 'invalid UTF-8', value: Buffer.concat([Buffer.from('{"user_id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]), reason: 'invalid_utf8' },
    { name: 'lone continuation byte', value: Buffer.from([0x7b, 0x80, 0x7d]), reason: 'invalid_utf8' },
    { name: 'unknown event type', value: json(envelope({ event_type: 'teleport' })), reason: 'unknown_event_type' },
    { name: 'billing event on the client topic', value: json(envelope({ event_type: 'payment_failed' }, { amount: 1, currency: 'USD' })), reason: 'unknown_event_type' },
    { name: 'missing event_ts', value: json(withoutTs), reason: 'schema_violation' },
    { name: 'unparseable event_ts', value: json(envelope({ event_ts: 'yesterday' })), reason: 'invalid_timestamp' },
    { name: 'event_ts without a zone', value: json(envelope({ event_ts: '2024-01-01T00:00:00' })), reason: 'invalid_timestamp' },
    { name: 'missing required attribute', value: json(envelope({}, {})), reason: 'schema_violation' },
    { name: 'user_id with a brace (would break the hash tag)', value: json(envelope({ user_id: 'u}1' })), reason: 'schema_violation' },
    { name: 'number too large for a double', value: Buffer.from(JSON.stringify(envelope({}, { error_code: 'E1', n: 1 })).replace('"n":1', '"n":1e400')), reason: 'schema_violation' },
    { name: 'top-level array', value: Buffer.from('[1,2,3]'), reason: 'not_an_object' },
    { name: 'top-level string', value: Buffer.from('"hello"'), reason: 'not_an_object' },
    { name: 'empty value', value: Buffer.alloc(0), reason: 'empty_payload' },
    { name: 'null value (tombstone)', value: null, reason: 'empty_payload' },
  ];
}

describe('bad input at the door', () => {
  it('dead-letters every hostile payload with its reason and original bytes, keeps consuming valid events, pollutes no prototype, and conserves records', async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const sidecar = await startSidecar(ns);
    const producer = await testProducer(ns.id);
    const topic = ns.topics.sources.client;

    // fast-check JSON: arbitrary values and objects with hostile keys, as bytes on the wire
    const generated = fc.sample(
      fc.oneof(
        fc.jsonValue().map((v) => json(v)),
        fc.dictionary(fc.constantFrom('__proto__', 'constructor', 'prototype', 'user_id', 'event_type', 'attributes', 'event_ts'), fc.jsonValue()).map((v) => json(v)),
        fc.string({ unit: 'binary' }).map((s) => Buffer.from(s)),
        fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
      ),
      { numRuns: 150, seed: 4242 },
    );

    const hostile = corpus();
    const base = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    // One partition, one send: record i lands at offset i, hostile and valid records interleaved.
    const plan: Array<{ name: string; key: string; value: Buffer | null; reason?: InvalidReason }> = [];
    let valid = 0;
    const addValid = () => {
      valid += 1;
      plan.push({
        name: `valid #${valid}`,
        key: 'fz-ok',
        value: rawEvent({ eventId: `ok-${valid}`, userId: 'fz-ok', eventType: 'playback_error', eventTs: base + valid * 1_000, ingestMs: base + valid * 1_000 }),
      });
    };
    for (const item of hostile) {
      plan.push({ ...item, key: 'fz-bad' });
      addValid();
    }
    for (const [i, value] of generated.entries()) {
      plan.push({ name: `generated #${i}`, key: `fz-gen-${i % 7}`, value });
      if (i % 10 === 0) addValid();
    }
    const [meta] = await producer.send({ topic, acks: -1, messages: plan.map(({ key, value }) => ({ key, value, partition: 0 })) });
    const first = BigInt(meta?.baseOffset ?? '0');
    const sent = plan.map((item, i) => ({ ...item, at: { partition: 0, offset: String(first + BigInt(i)) } })).filter((item) => !item.name.startsWith('valid'));
    const total = plan.length;

    await waitFor('the sidecar to consume every record', async () => (await sidecar.metrics.totals()).consumed >= total, { timeoutMs: 60_000 });
    const totals = await sidecar.metrics.totals();
    expect(totals.consumed).toBe(total);
    expect(totals.consumed).toBe(totals.applied + totals.duplicate + totals.replayed + totals.too_late + totals.invalid + totals.irrelevant);
    expect(totals.applied).toBe(valid);

    // each invalid record dead-lettered exactly once (the side topics are written before the counters move)
    expect(await topicSize(ns.topics.deadLetter)).toBe(totals.invalid);
    const dead = await readTopic(ns.topics.deadLetter, (records) => records.length >= totals.invalid);
    const byOrigin = new Map(dead.map((r) => [`${r.headers['churnfeat.source.partition']}:${r.headers['churnfeat.source.offset']}`, r]));
    const problems: string[] = [];
    let generatedInvalid = 0;
    for (const item of sent) {
      const letter = byOrigin.get(`${item.at.partition}:${item.at.offset}`);
      if (!letter) {
        if (item.reason) problems.push(`${item.name}: not dead-lettered`);
        continue;
      }
      if (!item.reason) generatedInvalid += 1;
      const reason = letter.headers['churnfeat.reason'];
      if (item.reason && reason !== item.reason) problems.push(`${item.name}: reason ${reason}, expected ${item.reason}`);
      if (!(INVALID_REASONS as readonly string[]).includes(reason ?? '')) problems.push(`${item.name}: unknown reason ${reason}`);
      const sameBytes = item.value === null || item.value.length === 0 ? letter.value === null || letter.value.length === 0 : letter.value !== null && letter.value.equals(item.value);
      if (!sameBytes) problems.push(`${item.name}: dead letter bytes differ from the original`);
      if (letter.headers['churnfeat.source.topic'] !== topic) problems.push(`${item.name}: source topic header ${letter.headers['churnfeat.source.topic']}`);
      if (!letter.headers['churnfeat.detail']) problems.push(`${item.name}: no detail header`);
    }
    expect(problems).toEqual([]);
    // every generated payload that did not parse as an event was dead-lettered too
    expect(hostile.length + generatedInvalid).toBe(totals.invalid);

    // the valid events between the hostile ones all counted
    const read = await new FeatureReader(testRedis(), registry, ns.options.keyPrefix).read('fz-ok', base + valid * 1_000 + 1);
    expect(read.features.errors_last_1h?.value).toBe(valid);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    console.info(`hostile input: ${hostile.length} curated + ${generated.length} generated payloads, ${totals.invalid} dead-lettered, ${valid} valid events applied; totals ${JSON.stringify(totals)}`);
  });
});
