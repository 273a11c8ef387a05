import type { LakeStorage } from '../lake/index.ts';
import { DELETION_STORES, newDeletionRecord, type DeletionIntake, type DeletionRecord, type DeletionRequestInput, type DeletionStore } from './deletion-request.ts';

/** Where the registry keeps its objects, in the lake's storage (never read as lake data). */
export const DELETIONS_PREFIX = '_deletions/';
const REQUESTS = `${DELETIONS_PREFIX}requests/`;
/** One empty marker per request with a store still open: the SLA gauge lists only these. */
const OPEN = `${DELETIONS_PREFIX}open/`;

/** A request id already registered for another user. */
export class DeletionConflictError extends Error {
  constructor(readonly requestId: string) {
    super(`request_id ${requestId} is already registered for another user`);
    this.name = 'DeletionConflictError';
  }
}

/**
 * The registry of erasure requests: one JSON object per request
 * (`_deletions/requests/<request_id>.json`) with the per-store audit, plus an open marker
 * per request not yet done everywhere. Kept in the lake's storage (S3 in production): durable,
 * shared by the CLI, the admin endpoint and the daily DAG, and outside Redis, which may lose
 * everything. It holds user ids of erased users and nothing else about them: the
 * suppression list the erasure itself needs (docs/deletion.md).
 */
export class DeletionRegistry {
  constructor(
    readonly storage: LakeStorage,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * Registers a request; the same request id again is a no-op returning the first record. The
   * record is created with a conditional write (`putIfAbsent`: S3 If-None-Match, a folder's
   * link), so of two concurrent registrations of one id exactly one wins and the other gets the
   * winner's record, or the conflict when it names another user. The open marker goes first: a
   * crash between the two leaves a marker without a record, which `open()` skips and the
   * retried registration completes.
   */
  async register(request: Required<DeletionRequestInput>, intake: DeletionIntake): Promise<{ record: DeletionRecord; created: boolean }> {
    const known = await this.get(request.request_id);
    if (known) return this.existing(known, request);
    const record = newDeletionRecord(request, intake, this.clock());
    await this.storage.put(`${OPEN}${record.request_id}`, Buffer.alloc(0));
    if (await this.storage.putIfAbsent(this.key(record.request_id), this.body(record))) return { record, created: true };
    const winner = await this.get(request.request_id);
    if (winner === null) throw new Error(`deletion request ${request.request_id}: the conditional write lost, but no record is there`);
    return this.existing(winner, request);
  }

  private existing(record: DeletionRecord, request: Required<DeletionRequestInput>): { record: DeletionRecord; created: boolean } {
    if (record.user_id !== request.user_id) throw new DeletionConflictError(request.request_id);
    return { record, created: false };
  }

  private key(requestId: string): string {
    return `${REQUESTS}${requestId}.json`;
  }

  private body(record: DeletionRecord): Buffer {
    return Buffer.from(`${JSON.stringify(record, null, 2)}\n`);
  }

  async get(requestId: string): Promise<DeletionRecord | null> {
    const body = await this.storage.get(this.key(requestId));
    return body === null ? null : (JSON.parse(body.toString('utf8')) as DeletionRecord);
  }

  async save(record: DeletionRecord): Promise<void> {
    await this.storage.put(this.key(record.request_id), this.body(record));
  }

  /** Requests with a store still open, oldest received first. */
  async open(): Promise<DeletionRecord[]> {
    const records: DeletionRecord[] = [];
    for (const { key } of await this.storage.list(OPEN)) {
      const record = await this.get(key.slice(OPEN.length));
      if (record && record.closed_at === null) records.push(record);
    }
    return records.sort((a, b) => Date.parse(a.received_at) - Date.parse(b.received_at));
  }

  /** Every request ever registered. */
  async all(): Promise<DeletionRecord[]> {
    const records: DeletionRecord[] = [];
    for (const { key } of await this.storage.list(REQUESTS)) {
      const body = await this.storage.get(key);
      if (body) records.push(JSON.parse(body.toString('utf8')) as DeletionRecord);
    }
    return records.sort((a, b) => Date.parse(a.received_at) - Date.parse(b.received_at));
  }

  /** Records a store as erased and verified; closes the request once every store is. */
  async markDone(record: DeletionRecord, store: DeletionStore, verification: string): Promise<DeletionRecord> {
    const now = new Date(this.clock()).toISOString();
    const status = record.stores[store];
    record.stores[store] = { state: 'done', done_at: now, verification, attempts: status.attempts + 1, last_error: null };
    if (DELETION_STORES.every((s) => record.stores[s].state === 'done')) record.closed_at = now;
    await this.save(record);
    if (record.closed_at !== null) await this.storage.delete(`${OPEN}${record.request_id}`);
    return record;
  }

  /** Records a failed attempt: the store stays open (and the SLA clock keeps running). */
  async markFailed(record: DeletionRecord, store: DeletionStore, error: string): Promise<DeletionRecord> {
    const status = record.stores[store];
    record.stores[store] = { ...status, attempts: status.attempts + 1, last_error: error.slice(0, 1000) };
    await this.save(record);
    return record;
  }
}

/** Age (s) of the oldest open request at `nowMs`, from its received_at; 0 when none is open. */
export function oldestOpenAgeSeconds(open: readonly DeletionRecord[], nowMs: number): number {
  const oldest = open.reduce((min, r) => Math.min(min, Date.parse(r.received_at)), Infinity);
  return Number.isFinite(oldest) ? Math.max(0, (nowMs - oldest) / 1000) : 0;
}

/**
 * The lake writer's view of the registry: erased users and their deletion times, refreshed
 * every `refreshMs`, so a late or replayed record of an erased user from before its erasure
 * never lands (the daily run rewrites whatever lands in between).
 */
export class ErasedUsers {
  private users = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly registry: DeletionRegistry,
    private readonly refreshMs = 60_000,
  ) {}

  /** True for a record of an erased user from before the erasure. */
  readonly erased = (userId: string, timeMs: number): boolean => {
    const before = this.users.get(userId);
    return before !== undefined && timeMs < before;
  };

  async refresh(): Promise<void> {
    const next = new Map<string, number>();
    for (const r of await this.registry.all()) next.set(r.user_id, Math.max(next.get(r.user_id) ?? 0, r.deleted_before_ms));
    this.users = next;
  }

  async start(onError: (error: unknown) => void = () => undefined): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh().catch(onError), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
