import { ReplyError, type Redis } from 'ioredis';
import type { UserStateRead } from '../store/index.ts';
import type { StateReader } from './feature-client.ts';

/** Told when reads start or stop going to the primary, and of every read that did. */
export interface FallbackObserver {
  fallingBack(active: boolean): void;
  fallbackRead(): void;
}

/**
 * `--redis-read-from replica` with a way out: reads go to the replica client while it is
 * connected and answers; while it is not (no replica reachable: the only one is down or
 * being promoted), the same read goes to the primary. A Redis reply error (a script error,
 * NOPERM) is an answer, not an outage, and is not retried on the primary; `LOADING` (a
 * replica loading its data set after a restart) is an outage. A Cluster needs none of this:
 * ioredis' `scaleReads: 'slave'` already reads a slot from its master when it has no replica.
 */
export class ReplicaFallbackReader implements StateReader {
  private active = false;

  constructor(
    private readonly replica: { reader: StateReader; client: Redis },
    private readonly primary: StateReader,
    private readonly observer: FallbackObserver,
  ) {}

  /** True while reads go to the primary. */
  get fallingBack(): boolean {
    return this.active;
  }

  read(userId: string, asOfMs?: number): Promise<UserStateRead> {
    return this.route((reader) => reader.read(userId, asOfMs));
  }

  readMany(userIds: readonly string[], asOfMs?: number): Promise<UserStateRead[]> {
    return this.route((reader) => reader.readMany(userIds, asOfMs));
  }

  private async route<T>(work: (reader: StateReader) => Promise<T>): Promise<T> {
    if (this.replica.client.status === 'ready') {
      try {
        const result = await work(this.replica.reader);
        this.set(false);
        return result;
      } catch (error) {
        if (error instanceof ReplyError && !(error as Error).message.startsWith('LOADING')) throw error;
      }
    }
    this.set(true);
    this.observer.fallbackRead();
    return work(this.primary);
  }

  private set(active: boolean): void {
    if (active === this.active) return;
    this.active = active;
    this.observer.fallingBack(active);
  }
}
