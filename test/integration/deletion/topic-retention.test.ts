/**
 * `churnfeat topics apply` on the real broker (docs/deletion.md, "Kafka"): the raw topics get
 * the deletion SLA's retention with AlterConfigs, other topic overrides are kept, a dry run
 * changes nothing, a second run is a no-op and a missing raw topic exits 1.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { TOPIC_CONFIG_SOURCE, TOPIC_RESOURCE, type TopicRetentionChange } from '../../../sidecar/src/deletion/index.ts';
import { RAW_TOPIC_CONFIG } from '../../../sidecar/src/kafka/index.ts';
import { churnfeatArgs } from '../../helpers/cli.ts';
import { createTestTopics, namespaceTopics, testAdmin } from '../../helpers/kafka.ts';
import { BROKERS, testNamespace } from '../../helpers/stack.ts';

const run = promisify(execFile);

async function topicsApply(namespace: string, ...args: string[]): Promise<{ code: number; changes: TopicRetentionChange[]; stderr: string }> {
  const env = { ...process.env, CHURNFEAT_KAFKA_BROKERS: BROKERS.join(','), CHURNFEAT_TOPIC_NAMESPACE: namespace };
  try {
    const { stdout, stderr } = await run(process.execPath, churnfeatArgs('topics', 'apply', ...args), { env });
    return {
      code: 0,
      changes: stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as TopicRetentionChange),
      stderr,
    };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return {
      code: e.code,
      changes: e.stdout.trim()
        ? e.stdout
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as TopicRetentionChange)
        : [],
      stderr: e.stderr,
    };
  }
}

/** The topic-level value of each config name (null: not set on the topic). */
async function topicConfig(admin: Admin, topic: string, names: readonly string[]): Promise<Record<string, string | null>> {
  const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: TOPIC_RESOURCE, name: topic, configNames: [...names] }] });
  const entries = resources[0]?.configEntries ?? [];
  return Object.fromEntries(names.map((n) => [n, entries.find((e) => e.configName === n && e.configSource === TOPIC_CONFIG_SOURCE)?.configValue ?? null]));
}

describe('churnfeat topics apply', () => {
  it("applies the SLA retention to every existing raw topic, keeps the topics' other overrides, changes nothing on --dry-run and nothing the second time", async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const admin = await testAdmin();
    const [client] = namespaceTopics(ns) as [string];
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: TOPIC_RESOURCE, name: client, configEntries: [{ name: 'max.message.bytes', value: '2000000' }] }] });
    const names = [...Object.keys(RAW_TOPIC_CONFIG), 'max.message.bytes'];

    const dry = await topicsApply(ns.options.topicNamespace, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.changes.map((c) => c.action)).toEqual(Array(5).fill('would-alter'));
    expect(dry.changes[0]?.before?.['retention.ms']).not.toBe(RAW_TOPIC_CONFIG['retention.ms']);
    expect((await topicConfig(admin, client, names))['retention.ms']).toBeNull();

    const applied = await topicsApply(ns.options.topicNamespace);
    expect(applied.code).toBe(0);
    expect(applied.changes.map((c) => c.topic)).toEqual(namespaceTopics(ns));
    for (const change of applied.changes) {
      expect(change.action).toBe('altered');
      expect(change.after).toEqual(RAW_TOPIC_CONFIG);
    }
    for (const topic of namespaceTopics(ns)) {
      const config = await topicConfig(admin, topic, names);
      expect(config).toMatchObject(RAW_TOPIC_CONFIG);
      expect(config['max.message.bytes']).toBe(topic === client ? '2000000' : null);
    }

    const again = await topicsApply(ns.options.topicNamespace);
    expect(again.changes.map((c) => c.action)).toEqual(Array(5).fill('unchanged'));

    await admin.deleteTopics({ topics: [ns.topics.late] });
    const missing = await topicsApply(ns.options.topicNamespace);
    expect(missing.code).toBe(1);
    expect(missing.changes.find((c) => c.topic === ns.topics.late)?.action).toBe('missing');
    expect(missing.stderr).toContain(ns.topics.late);
  });
});
