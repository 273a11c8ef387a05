import type { Redis } from 'ioredis';
import { readyMasters } from '../store/index.ts';

/**
 * What one WAIT round found: enough replicas have every write sent so far, or not: too few
 * replicas acknowledged within the timeout (`replicas_behind`: replication lags or no
 * replica is attached), or the WAIT itself failed or its connection closed (`wait_failed`).
 */
export type ReplicaWaitResult = { ok: true } | { ok: false; kind: 'replicas_behind' | 'wait_failed'; reason: string };

/**
 * The step between a batch's Redis writes and its Kafka commit that makes a primary's loss
 * lose nothing committed: `WAIT <replicas> <timeout>` on the connection that wrote the batch
 * (each master's connection on a Cluster). WAIT counts the replicas that acknowledged every
 * write this connection sent; it only means something on that same connection, so a WAIT that
 * fails (the primary went away: the writes may be lost with it) is never retried on a new
 * connection as if the batch were safe. The caller writes the batch again instead (the apply
 * function's offset check turns what did survive into "replayed") and waits again. ioredis
 * may send a WAIT queued while reconnecting on the new connection, where it answers at once:
 * so a connection closed between {@link mark} (before the writes) and the WAIT's reply fails
 * the round too. With `replicas` 0 the step is off: single-node Redis behaves as before.
 */
export class ReplicaWait {
  private closes = 0;

  constructor(
    private readonly redis: Redis,
    private readonly replicas: number,
    private readonly timeoutMs: number,
  ) {
    redis.on('close', () => {
      this.closes += 1;
    });
  }

  /** Taken before a batch's writes; {@link confirm} fails if a connection closed since. */
  mark(): number {
    return this.closes;
  }

  get enabled(): boolean {
    return this.replicas > 0;
  }

  async confirm(mark: number): Promise<ReplicaWaitResult> {
    if (!this.enabled) return { ok: true };
    try {
      // readyMasters, not masterNodes: a Cluster client that does not know its masters yet lists
      // none, and a WAIT on no node at all would confirm the batch without asking anyone.
      const nodes = await readyMasters(this.redis, Math.max(this.timeoutMs, 1_000));
      const acked = await Promise.all(nodes.map(async (node) => Number(await node.call('WAIT', this.replicas, this.timeoutMs))));
      if (this.closes !== mark) return { ok: false, kind: 'wait_failed', reason: 'the Redis connection closed while the batch was written: its writes may be lost with the node' };
      const fewest = Math.min(...acked);
      if (fewest >= this.replicas) return { ok: true };
      return { ok: false, kind: 'replicas_behind', reason: `WAIT ${this.replicas} ${this.timeoutMs}: only ${fewest} replica(s) acknowledged the batch's writes` };
    } catch (error) {
      return { ok: false, kind: 'wait_failed', reason: `WAIT ${this.replicas} ${this.timeoutMs} failed (the writes may be lost with the node): ${(error as Error).message}` };
    }
  }
}
