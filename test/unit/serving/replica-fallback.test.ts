import { ReplyError, type Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ReplicaFallbackReader, type StateReader } from '../../../sidecar/src/serving/index.ts';
import { absentRead } from '../../helpers/serving.ts';

/** A reader that answers, or fails with the given error, and counts its calls. */
function reader(failure?: Error): StateReader & { calls: number } {
  const r = {
    calls: 0,
    read: async () => {
      r.calls += 1;
      if (failure) throw failure;
      return absentRead();
    },
    readMany: async (ids: readonly string[]) => {
      r.calls += 1;
      if (failure) throw failure;
      return ids.map(() => absentRead());
    },
  };
  return r;
}

function setup(status: string, replicaFailure?: Error) {
  const replica = reader(replicaFailure);
  const primary = reader();
  const events: string[] = [];
  const fallback = new ReplicaFallbackReader({ reader: replica, client: { status } as unknown as Redis }, primary, {
    fallingBack: (active) => events.push(active ? 'on' : 'off'),
    fallbackRead: () => events.push('read'),
  });
  return { replica, primary, events, fallback };
}

describe('replica reads with a fallback to the primary', () => {
  it('reads from the replica while its connection is ready, and reports nothing', async () => {
    const { replica, primary, events, fallback } = setup('ready');
    await fallback.read('u1');
    await fallback.readMany(['u1', 'u2']);
    expect([replica.calls, primary.calls, events, fallback.fallingBack]).toEqual([2, 0, [], false]);
  });

  it('reads from the primary while the replica is not connected, and says so once', async () => {
    const { replica, primary, events, fallback } = setup('reconnecting');
    await fallback.read('u1');
    await fallback.readMany(['u1']);
    expect([replica.calls, primary.calls, events, fallback.fallingBack]).toEqual([0, 2, ['on', 'read', 'read'], true]);
  });

  it('retries on the primary a read the replica could not answer (timeout, closed connection, LOADING)', async () => {
    for (const failure of [new Error('Command timed out'), new Error('Connection is closed.'), new ReplyError('LOADING Redis is loading the dataset in memory')]) {
      const { primary, events, fallback } = setup('ready', failure);
      await fallback.read('u1');
      expect([primary.calls, events]).toEqual([1, ['on', 'read']]);
    }
  });

  it('passes a Redis error reply (a script error, NOPERM) through: it is an answer, not an outage', async () => {
    const { primary, fallback } = setup('ready', new ReplyError('NOPERM this user has no permissions to run the fcall_ro command'));
    await expect(fallback.read('u1')).rejects.toThrow(/NOPERM/);
    expect(primary.calls).toBe(0);
  });
});
