import { DEDUP_BUCKETS, DEDUP_ENTRY_BYTES, DEDUP_MEMBER_BYTES, DEDUP_TILE_S, dedupStamp } from '../store/index.ts';

/** Stamps modulo this (2 bytes), as in the store (store-protocol.ts). */
const STAMP_MODULUS = 65_536;

/** One event of a dedup call: its member (the store's 8 bytes) and its dedup time (s). */
export interface DedupEvent {
  readonly member: Buffer;
  readonly scoreS: number;
}

/** One (user, source) call, as the store's apply function would get it: the same bound. */
export interface DedupCall {
  readonly userId: string;
  /** dedup_prune_before_s of the apply call (feature-writer.ts applyCall). */
  readonly boundS: number;
  /** The call's clock (ms, the newest ingest time of its records): the index's TTL clock. */
  readonly clockMs: number;
  readonly events: readonly DedupEvent[];
}

/** What a call would do to one user's entries; applied by {@link PartitionDedupIndex.commit}. */
export interface DedupChange {
  readonly userId: string;
  readonly boundS: number;
  readonly clockMs: number;
  /** The entries the call appended (member + 2-byte stamp, latin1), in order. */
  readonly appended: string;
  /** The user's entries after the call (appended, then the written buckets' expired prefix pruned). */
  readonly packed: string;
}

/** The outcome of one call: a duplicate flag per event and the change to commit. */
export interface DedupDecision {
  readonly duplicate: boolean[];
  readonly change: DedupChange | null;
}

/** One user's entries: every entry of its dedup hash, in append order (latin1, 10 bytes each). */
interface UserEntries {
  packed: string;
  clockMs: number;
}

const bucketOf = (packed: string, at: number): number => packed.charCodeAt(at) % DEDUP_BUCKETS;

/** Whether `packed` holds `member` at an entry boundary (exact, as store-protocol.ts dedupBucketHas). */
export function entriesHave(packed: string, member: string): boolean {
  for (let at = packed.indexOf(member); at >= 0; at = packed.indexOf(member, at + 1)) if (at % DEDUP_ENTRY_BYTES === 0) return true;
  return false;
}

/**
 * The entries without the expired prefix of each written bucket: per bucket, the entries from
 * its first whose tile lies wholly below the bound up to its first that does not (the store's
 * rule, store-protocol.ts pruneDedupBucket, on the bucket's own subsequence).
 */
export function pruneEntries(packed: string, written: ReadonlySet<number>, boundS: number): string {
  if (written.size === 0) return packed;
  const bound = Math.floor(boundS / DEDUP_TILE_S);
  const pruning = new Set(written);
  // the dropped entries' offsets; most calls drop none and allocate nothing
  const dropped: number[] = [];
  for (let at = 0; at + DEDUP_ENTRY_BYTES <= packed.length && pruning.size > 0; at += DEDUP_ENTRY_BYTES) {
    const bucket = bucketOf(packed, at);
    if (!pruning.has(bucket)) continue;
    const stamp = packed.charCodeAt(at + DEDUP_MEMBER_BYTES) * 256 + packed.charCodeAt(at + DEDUP_MEMBER_BYTES + 1);
    const behind = (((bound - stamp) % STAMP_MODULUS) + STAMP_MODULUS) % STAMP_MODULUS;
    if (behind >= 1 && behind < STAMP_MODULUS / 2) dropped.push(at);
    else pruning.delete(bucket);
  }
  if (dropped.length === 0) return packed;
  const kept: string[] = [];
  let from = 0;
  for (const at of dropped) {
    if (at > from) kept.push(packed.slice(from, at));
    from = at + DEDUP_ENTRY_BYTES;
  }
  kept.push(packed.slice(from));
  return kept.join('');
}

/** Appends `appended` to `packed` and prunes the buckets it wrote: what one call does to a user's entries. */
export function applyEntries(packed: string, appended: string, boundS: number): string {
  const written = new Set<number>();
  for (let at = 0; at < appended.length; at += DEDUP_ENTRY_BYTES) written.add(bucketOf(appended, at));
  return pruneEntries(packed + appended, written, boundS);
}

/**
 * The dedup index of one owned (source topic, partition), for `--dedup local`: per user, the
 * same entries the store's dedup hash `<prefix>:{user}:dt:<source>` would hold (the same
 * member, stamp, buckets and prune rule), so its "duplicate" is the store's for every sequence
 * of calls (test/unit/dedup/dedup-index.test.ts drives both). A user's records of a source all
 * land in one partition, so one partition's index is the whole of those users' dedup state.
 *
 * Memory: one V8 one-byte string per user (10 bytes per entry) and a small record; a user whose
 * newest call is older than the store's dedup TTL (in the ingest clock) is dropped by
 * {@link sweep}, as Redis expires an untouched dedup hash.
 */
export class PartitionDedupIndex {
  private readonly users = new Map<string, UserEntries>();
  private entryChars = 0;
  private newestClockMs = -Infinity;

  constructor(
    /** The store's dedup TTL (feature-writer.ts): a user untouched for this long (ingest clock) is dropped. */
    private readonly ttlMs: number,
  ) {}

  /**
   * The verdicts of one call, against the committed entries (nothing changes until
   * {@link commit}): an event is a duplicate when its member is in the user's entries or earlier
   * in the same call; the others are appended with the store's stamp.
   */
  decide(call: DedupCall): DedupDecision {
    const before = this.users.get(call.userId)?.packed ?? '';
    let packed = before;
    let appended = '';
    const duplicate = call.events.map((event) => {
      if (event.member.length !== DEDUP_MEMBER_BYTES) throw new RangeError(`a dedup member must be ${DEDUP_MEMBER_BYTES} bytes`);
      const member = event.member.toString('latin1');
      if (entriesHave(packed, member)) return true;
      const entry = member + dedupStamp(event.scoreS, call.boundS).toString('latin1');
      packed += entry;
      appended += entry;
      return false;
    });
    if (appended === '') return { duplicate, change: null };
    return { duplicate, change: { userId: call.userId, boundS: call.boundS, clockMs: call.clockMs, appended, packed: applyEntries(before, appended, call.boundS) } };
  }

  /** Makes the changes of a batch's calls the committed state (after the store and the changelog have them). */
  commit(changes: Iterable<DedupChange>): void {
    for (const change of changes) this.set(change.userId, change.packed, change.clockMs);
  }

  /** Replays one changelog entry (a call's appended entries and bound) onto the index. */
  replay(userId: string, appended: string, boundS: number, clockMs: number): void {
    this.set(userId, applyEntries(this.users.get(userId)?.packed ?? '', appended, boundS), clockMs);
  }

  private set(userId: string, packed: string, clockMs: number): void {
    const current = this.users.get(userId);
    this.entryChars += packed.length - (current?.packed.length ?? 0);
    if (packed === '') this.users.delete(userId);
    else if (current) {
      current.packed = packed;
      current.clockMs = Math.max(current.clockMs, clockMs);
    } else this.users.set(userId, { packed, clockMs });
    if (clockMs > this.newestClockMs) this.newestClockMs = clockMs;
  }

  /** Drops the users whose newest call is older than the TTL behind the newest call seen; returns how many. */
  sweep(): number {
    const before = this.newestClockMs - this.ttlMs;
    let dropped = 0;
    for (const [userId, entries] of this.users) {
      if (entries.clockMs >= before) continue;
      this.entryChars -= entries.packed.length;
      this.users.delete(userId);
      dropped += 1;
    }
    return dropped;
  }

  /** The members of one user, as hex, in append order (tests and `explain`). */
  membersOf(userId: string): string[] {
    const packed = this.users.get(userId)?.packed ?? '';
    const members: string[] = [];
    for (let at = 0; at < packed.length; at += DEDUP_ENTRY_BYTES) members.push(Buffer.from(packed.slice(at, at + DEDUP_MEMBER_BYTES), 'latin1').toString('hex'));
    return members;
  }

  /** One user's entries per store bucket (bucket number -> packed bytes), as the store's dedup hash would hold them. */
  bucketsOf(userId: string): Map<string, Buffer> {
    const packed = this.users.get(userId)?.packed ?? '';
    const buckets = new Map<string, string>();
    for (let at = 0; at < packed.length; at += DEDUP_ENTRY_BYTES) {
      const bucket = String(bucketOf(packed, at));
      buckets.set(bucket, (buckets.get(bucket) ?? '') + packed.slice(at, at + DEDUP_ENTRY_BYTES));
    }
    return new Map([...buckets].map(([bucket, text]) => [bucket, Buffer.from(text, 'latin1')]));
  }

  /** Members held (entries of every user). */
  get members(): number {
    return this.entryChars / DEDUP_ENTRY_BYTES;
  }

  /** Users held. */
  get size(): number {
    return this.users.size;
  }

  /** Bytes of entries held (10 per member; the V8 heap adds a per-user overhead, bench/memory measures it). */
  get entryBytes(): number {
    return this.entryChars;
  }
}
