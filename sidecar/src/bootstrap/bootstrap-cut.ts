/**
 * The cut of a bootstrap: per source topic-partition an offset C_p such that every record
 * below it is in the lake (the lake writer's manifests, lake-manifest.ts: `landed_through`).
 * The warehouse is then built (dbt) after the cut is taken, so it holds every record below it
 * too; the load reads only the records below it, and the version's sidecar starts at it.
 */
import type { Admin } from 'kafkajs';
import { SOURCES, type Source } from '../events/index.ts';
import { topicNames } from '../kafka/index.ts';
import { readManifest, type LakeStorage } from '../lake/index.ts';

/** The cut offset of one source partition. */
export interface CutPartition {
  source: Source;
  topic: string;
  partition: number;
  /** Records with an offset below this are loaded from the warehouse; the sidecar starts here. */
  offset: number;
}

/** The cut of every partition of the source topics, from the lake manifests. */
export async function takeCut(admin: Admin, storage: LakeStorage, namespace: string): Promise<CutPartition[]> {
  const topics = topicNames(namespace).sources;
  const cut: CutPartition[] = [];
  for (const source of SOURCES) {
    const topic = topics[source];
    const partitions = await admin.fetchTopicOffsets(topic);
    for (const { partition } of partitions.sort((a, b) => a.partition - b.partition)) {
      const manifest = await readManifest(storage, topic, partition);
      cut.push({ source, topic, partition, offset: manifest.landedThrough === null ? 0 : Number(manifest.landedThrough) + 1 });
    }
  }
  return cut;
}

/** The cut as stored in the bootstrap key: `{"<topic>:<partition>": offset}` plus the sources. */
export function encodeCut(cut: readonly CutPartition[]): string {
  return JSON.stringify(cut.map(({ source, topic, partition, offset }) => ({ source, topic, partition, offset })));
}

export function decodeCut(text: string): CutPartition[] {
  return JSON.parse(text) as CutPartition[];
}
