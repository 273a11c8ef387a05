import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { claimFlush, claimKey, CLAIM_PREFIX, LocalLakeStorage, readClaim, readManifest, readPartitionManifest, writeManifest, emptyManifest } from '../../../sidecar/src/lake/index.ts';

function lake(): LocalLakeStorage {
  const root = mkdtempSync(join(tmpdir(), 'churnfeat-manifest-'));
  onTestFinished(() => rmSync(root, { recursive: true, force: true }));
  return new LocalLakeStorage(root);
}

const claim = (first: bigint, last: bigint) => ({ first, last, objects: [`events/x-${first}-${last}.parquet`] });

describe('lake manifest claims', () => {
  it('creates an object only once with putIfAbsent, and never lists its temporary', async () => {
    const storage = lake();
    expect(await storage.putIfAbsent('_claims/t/a.json', Buffer.from('one'))).toBe(true);
    expect(await storage.putIfAbsent('_claims/t/a.json', Buffer.from('two'))).toBe(false);
    expect((await storage.get('_claims/t/a.json'))?.toString()).toBe('one');
    expect((await storage.list('_claims/')).map((o) => o.key)).toEqual(['_claims/t/a.json']);
  });

  it('lets exactly one of two concurrent flushes claim the offsets after a boundary', async () => {
    const storage = lake();
    const results = await Promise.all([claimFlush(storage, 't', 0, 99n, claim(100n, 149n), 'a'), claimFlush(storage, 't', 0, 99n, claim(100n, 180n), 'b')]);
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = await readClaim(storage, 't', 0, 99n);
    expect(winner?.last === 149n || winner?.last === 180n).toBe(true);
    expect(claimKey('t', 0, 99n).startsWith(CLAIM_PREFIX)).toBe(true);
    expect(claimKey('t', 0, null)).toBe('_claims/t/partition=0/after-start.json');
  });

  it('follows the claims past a stale manifest: every claim but the last is landed, the last is pending', async () => {
    const storage = lake();
    await writeManifest(storage, { ...emptyManifest('t', 1), landedThrough: 9n });
    await claimFlush(storage, 't', 1, 9n, claim(10n, 19n), 'a');
    await claimFlush(storage, 't', 1, 19n, claim(20n, 29n), 'b');
    const { manifest, followed } = await readPartitionManifest(storage, 't', 1, 'c');
    expect(followed).toBe(2);
    expect(manifest.landedThrough).toBe(19n);
    expect(manifest.pending).toEqual(claim(20n, 29n));
  });

  it('takes an up-to-date manifest as it is, and starts from the claim after "start" on an empty partition', async () => {
    const storage = lake();
    expect((await readPartitionManifest(storage, 't', 2, 'a')).manifest).toEqual(emptyManifest('t', 2));
    await claimFlush(storage, 't', 2, null, claim(0n, 4n), 'a');
    expect((await readPartitionManifest(storage, 't', 2, 'b')).manifest.pending).toEqual(claim(0n, 4n));
    await writeManifest(storage, { ...emptyManifest('t', 2), landedThrough: 4n });
    const { manifest, followed } = await readPartitionManifest(storage, 't', 2, 'b');
    expect([manifest.landedThrough, manifest.pending, followed]).toEqual([4n, null, 0]);
  });

  it('claims a pending range written without a claim (a lake from before claims), so that it is fenced too', async () => {
    const storage = lake();
    await writeManifest(storage, { ...emptyManifest('t', 3), landedThrough: 4n, pending: claim(5n, 8n) });
    const { manifest } = await readPartitionManifest(storage, 't', 3, 'a');
    expect(manifest.pending).toEqual(claim(5n, 8n));
    expect(await readClaim(storage, 't', 3, 4n)).toEqual(claim(5n, 8n));
    // Another writer planning on top of landed_through 4 now loses.
    expect(await claimFlush(storage, 't', 3, 4n, claim(5n, 30n), 'b')).toBe(false);
    expect((await readManifest(storage, 't', 3)).pending).toEqual(claim(5n, 8n));
  });
});
