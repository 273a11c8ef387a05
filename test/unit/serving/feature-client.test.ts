import { describe, expect, it } from 'vitest';
import { ServingError, toServingError } from '../../../sidecar/src/serving/index.ts';
import { clientOnlyRead, FakeReader, fixtureClient, NOW } from '../../helpers/serving.ts';

async function errorOf(promise: Promise<unknown>): Promise<ServingError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ServingError);
  return error as ServingError;
}

describe('FeatureClient', () => {
  it('rejects a user id outside ^[A-Za-z0-9_.-]{1,64}$ before touching Redis', async () => {
    const reader = new FakeReader();
    const client = fixtureClient(reader);
    for (const bad of ['', 'a b', 'u{1}', 'x'.repeat(65), 'é', 'u:1']) {
      const error = await errorOf(client.get(bad));
      expect(error.code).toBe('invalid_user_id');
      expect(error.message).toContain('userId must match');
    }
    expect(reader.calls).toEqual([]);
  });

  it('rejects empty and oversized batches and names the bad element', async () => {
    const client = fixtureClient(new FakeReader(), undefined, 3);
    expect((await errorOf(client.getMany([]))).message).toBe('user_ids must not be empty');
    expect((await errorOf(client.getMany(['a', 'b', 'c', 'd']))).message).toBe('user_ids has 4 items; the limit is 3');
    const bad = await errorOf(client.getMany(['a', 'b c']));
    expect(bad.code).toBe('invalid_user_id');
    expect(bad.message).toContain('user_ids[1]');
  });

  it('answers a batch in request order, duplicates included, in one reader call', async () => {
    const reader = new FakeReader({ u1: clientOnlyRead() });
    const client = fixtureClient(reader);
    const answers = await client.getMany(['nobody', 'u1', 'u1']);
    expect(answers.map((a) => [a.user_id, a.status])).toEqual([
      ['nobody', 'missing'],
      ['u1', 'present'],
      ['u1', 'present'],
    ]);
    expect(reader.calls).toHaveLength(1);
  });

  it('passes an explicit as_of through to the store read', async () => {
    const reader = new FakeReader();
    const answer = await fixtureClient(reader).get('u1', { asOfMs: NOW - 5_000 });
    expect(reader.calls[0]?.asOfMs).toBe(NOW - 5_000);
    expect(answer.as_of_ms).toBe(NOW - 5_000);
  });

  it('turns "function not found" into registry_mismatch and other Redis failures into retryable store_unavailable', async () => {
    const reader = new FakeReader();
    const client = fixtureClient(reader);
    reader.failWith = new Error('ERR Function not found');
    const mismatch = await errorOf(client.get('u1'));
    expect(mismatch.code).toBe('registry_mismatch');
    expect(mismatch.retryable).toBe(false);
    reader.failWith = new Error('Connection is closed.');
    const down = await errorOf(client.getMany(['u1']));
    expect(down.code).toBe('store_unavailable');
    expect(down.retryable).toBe(true);
    expect(down.cause).toBe(reader.failWith);
  });

  it('keeps a ServingError as it is', () => {
    const original = new ServingError('invalid_batch', 'x');
    expect(toServingError(original, 'fp')).toBe(original);
  });
});
