import type { Admin, ConfigResourceTypes, ConfigSource } from 'kafkajs';
import { RAW_TOPIC_CONFIG, type TopicNames } from '../kafka/index.ts';

// kafkajs is CommonJS and Node's ESM loader does not see its enums as named exports: the
// protocol's numbers, typed as kafkajs' enums.
/** ConfigResourceTypes.TOPIC */
export const TOPIC_RESOURCE = 2 as ConfigResourceTypes;
/** ConfigSource.TOPIC_CONFIG: a config set on the topic itself. */
export const TOPIC_CONFIG_SOURCE = 1 as ConfigSource;

/** The topic configs the 72 h SLA sets (docs/deletion.md, "Kafka"). */
export type RawTopicConfig = Record<keyof typeof RAW_TOPIC_CONFIG, string | null>;

export interface TopicRetentionChange {
  topic: string;
  /** The topic's values before (null: the topic does not exist). */
  before: RawTopicConfig | null;
  /** The values read back after the change (the same as before on a dry run or when nothing changed). */
  after: RawTopicConfig | null;
  /** 'unchanged': already as required; 'altered'; 'would-alter' (dry run); 'missing': no such topic. */
  action: 'unchanged' | 'altered' | 'would-alter' | 'missing';
}

/** The raw topics the SLA covers: the three sources, the dead letters and the late events. */
export function rawTopics(names: TopicNames): string[] {
  return [...Object.values(names.sources), names.deadLetter, names.late];
}

/** Topic-level overrides (DYNAMIC_TOPIC_CONFIG) and the SLA's keys of each topic. */
async function describe(admin: Admin, topics: readonly string[]): Promise<Map<string, { sla: RawTopicConfig; overrides: Array<{ name: string; value: string }> }>> {
  const out = new Map<string, { sla: RawTopicConfig; overrides: Array<{ name: string; value: string }> }>();
  if (topics.length === 0) return out;
  const described = await admin.describeConfigs({ includeSynonyms: false, resources: topics.map((name) => ({ type: TOPIC_RESOURCE, name })) });
  for (const resource of described.resources) {
    const sla = Object.fromEntries(Object.keys(RAW_TOPIC_CONFIG).map((k) => [k, null])) as RawTopicConfig;
    const overrides: Array<{ name: string; value: string }> = [];
    for (const entry of resource.configEntries) {
      if (entry.configName in RAW_TOPIC_CONFIG) sla[entry.configName as keyof RawTopicConfig] = entry.configValue;
      // set on the topic itself: a (non-incremental) AlterConfigs replaces all of them
      if (entry.configSource === TOPIC_CONFIG_SOURCE && !entry.isSensitive) overrides.push({ name: entry.configName, value: entry.configValue });
    }
    out.set(resource.resourceName, { sla, overrides });
  }
  return out;
}

/**
 * Applies {@link RAW_TOPIC_CONFIG} (retention.ms, segment.ms, cleanup.policy) to the existing raw
 * topics with AlterConfigs, keeping every other topic-level override (the non-incremental
 * AlterConfigs that kafkajs sends replaces the whole set, so the request carries them too).
 * Idempotent: a topic already as required is not touched. `dryRun` asks the broker to validate
 * only. Returns the before and after of every topic.
 */
export async function applyRawTopicRetention(admin: Admin, names: TopicNames, options: { dryRun?: boolean } = {}): Promise<TopicRetentionChange[]> {
  const topics = rawTopics(names);
  const existing = new Set(await admin.listTopics());
  const present = topics.filter((t) => existing.has(t));
  const before = await describe(admin, present);
  const wanted = Object.entries(RAW_TOPIC_CONFIG);
  const toAlter = present.filter((t) => wanted.some(([k, v]) => before.get(t)?.sla[k as keyof RawTopicConfig] !== v));
  if (toAlter.length > 0) {
    await admin.alterConfigs({
      validateOnly: options.dryRun === true,
      resources: toAlter.map((name) => {
        const kept = (before.get(name)?.overrides ?? []).filter((o) => !(o.name in RAW_TOPIC_CONFIG));
        return { type: TOPIC_RESOURCE, name, configEntries: [...kept, ...wanted.map(([k, v]) => ({ name: k, value: v }))] };
      }),
    });
  }
  const after = options.dryRun || toAlter.length === 0 ? before : await describe(admin, present);
  return topics.map((topic) => {
    if (!existing.has(topic)) return { topic, before: null, after: null, action: 'missing' as const };
    const action = !toAlter.includes(topic) ? 'unchanged' : options.dryRun ? 'would-alter' : 'altered';
    return { topic, before: before.get(topic)?.sla ?? null, after: after.get(topic)?.sla ?? null, action };
  });
}
