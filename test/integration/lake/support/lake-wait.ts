import type { Admin } from 'kafkajs';
import { readAllManifests, type LakeStorage } from '../../../../sidecar/src/lake/index.ts';
import { waitFor } from '../../support/wait.ts';

/** High watermark of every partition of `topics`: "<topic>:<partition>" -> high. */
export async function highWatermarks(admin: Admin, topics: readonly string[]): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsets(topic)) out.set(`${topic}:${p.partition}`, BigInt(p.high));
  }
  return out;
}

/** Waits until the manifests say every offset below each high watermark is landed. */
export async function waitUntilLanded(storage: LakeStorage, highs: ReadonlyMap<string, bigint>, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    'the lake writer to land every record',
    async () => {
      const manifests = new Map((await readAllManifests(storage)).map((m) => [`${m.topic}:${m.partition}`, m]));
      for (const [id, high] of highs) {
        if (high === 0n) continue;
        const manifest = manifests.get(id);
        if (!manifest || manifest.pending !== null || manifest.landedThrough === null || manifest.landedThrough < high - 1n) return false;
      }
      return true;
    },
    { timeoutMs, intervalMs: 250 },
  );
}
