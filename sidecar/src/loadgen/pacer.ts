/**
 * Paces a producer at a target rate: `due(now, sent)` says how many records may go now so
 * that, on average since `startMs`, `rate` records go per second. A producer that falls
 * behind is not allowed a burst larger than `maxBurst` at once, so it catches up in steps
 * instead of flooding the broker; `behindBy` says how far behind it is.
 */
export class Pacer {
  constructor(
    /** Records per second; 0 means as fast as the sink takes them. */
    readonly rate: number,
    readonly startMs: number,
    readonly maxBurst: number = 2_000,
  ) {
    if (!(rate >= 0) || !Number.isFinite(rate)) throw new RangeError(`pacer rate must be a finite number >= 0, got ${rate}`);
    if (!(maxBurst >= 1)) throw new RangeError(`pacer maxBurst must be >= 1, got ${maxBurst}`);
  }

  /** Records the schedule allows by `nowMs` in total. */
  allowed(nowMs: number): number {
    if (this.rate === 0) return Number.POSITIVE_INFINITY;
    return Math.floor((Math.max(0, nowMs - this.startMs) * this.rate) / 1000);
  }

  /** How many records may be sent now, given `sent` so far (at most `maxBurst`). */
  due(nowMs: number, sent: number): number {
    return Math.max(0, Math.min(this.maxBurst, this.allowed(nowMs) - sent));
  }

  /** Milliseconds until the next record is due (0 when one is due now). */
  waitMs(nowMs: number, sent: number): number {
    if (this.rate === 0) return 0;
    const dueAt = this.startMs + ((sent + 1) * 1000) / this.rate;
    return Math.max(0, dueAt - nowMs);
  }

  /** Records the producer is behind the schedule by at `nowMs`. */
  behindBy(nowMs: number, sent: number): number {
    return this.rate === 0 ? 0 : Math.max(0, this.allowed(nowMs) - sent);
  }
}
