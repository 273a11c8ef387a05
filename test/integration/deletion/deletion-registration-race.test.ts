/**
 * Concurrent registrations of one request id (docs/deletion.md, "The registry"): on a folder
 * and on the S3 endpoint of the stack (conditional PutObject, If-None-Match: *), exactly one
 * registration wins; the others get the winner's record, or the conflict when they name
 * another user.
 */
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DeletionConflictError, DeletionRegistry } from '../../../sidecar/src/deletion/index.ts';
import { LocalLakeStorage, S3LakeStorage, type LakeStorage } from '../../../sidecar/src/lake/index.ts';
import { tempDir } from '../../helpers/consumers.ts';
import { S3_ENDPOINT, testNamespace } from '../../helpers/stack.ts';

const RACERS = 12;

async function storages(): Promise<Array<[string, LakeStorage]>> {
  const bucket = `${testNamespace().id}-race`.toLowerCase();
  const s3 = new S3LakeStorage({ bucket, prefix: 'raw/', endpoint: S3_ENDPOINT, forcePathStyle: true });
  onTestFinished(() => s3.close());
  await s3.client.send(new CreateBucketCommand({ Bucket: bucket }));
  return [
    ['folder', new LocalLakeStorage(join(tempDir('churnfeat-race-'), 'lake'))],
    ['s3', s3],
  ];
}

/** Each racer its own registry (another process), its own clock (records that differ), all at once. */
function race(storage: LakeStorage, requestId: string, user: (i: number) => string) {
  const at = Date.parse('2026-12-01T10:00:00Z');
  return Promise.allSettled(
    Array.from({ length: RACERS }, (_, i) =>
      new DeletionRegistry(storage, () => at + i * 1_000).register({ request_id: requestId, user_id: user(i), received_at: new Date(at).toISOString() }, 'http'),
    ),
  );
}

describe('concurrent registrations of one deletion request id', () => {
  it('let exactly one win, on a folder and on S3; the others get its record', async () => {
    for (const [name, storage] of await storages()) {
      const results = await race(storage, `same-${name}`, () => 'u-same');
      const values = results.map((r) => (r.status === 'fulfilled' ? r.value : null));
      expect(
        values.every((v) => v !== null),
        name,
      ).toBe(true);
      expect(values.filter((v) => v?.created).length, name).toBe(1);
      const stored = await new DeletionRegistry(storage).get(`same-${name}`);
      expect(new Set(values.map((v) => v?.record.deleted_before_ms)), name).toEqual(new Set([stored?.deleted_before_ms]));
      expect(
        (await new DeletionRegistry(storage).open()).map((r) => r.request_id),
        name,
      ).toEqual([`same-${name}`]);
    }
  });

  it('let exactly one of several users win an id, the others seeing the conflict', async () => {
    for (const [name, storage] of await storages()) {
      const results = await race(storage, `clash-${name}`, (i) => `u-${i}`);
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won.length, name).toBe(1);
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(
        lost.every((r) => r.reason instanceof DeletionConflictError),
        name,
      ).toBe(true);
      const stored = await new DeletionRegistry(storage).get(`clash-${name}`);
      expect(stored?.user_id, name).toBe((won[0] as PromiseFulfilledResult<{ record: { user_id: string } }>).value.record.user_id);
    }
  });
});
