import { USER_ID_PATTERN } from '../serving/user-id.ts';

/**
 * An erasure request (GDPR art. 17 / CCPA): one user, one request id, when it was received.
 * The same shape arrives on the deletion topic, from `churnfeat delete request` and from
 * POST /admin/v1/deletions. Requests are idempotent by request id.
 */
export interface DeletionRequestInput {
  request_id: string;
  user_id: string;
  /** RFC 3339; default: when the request is registered. */
  received_at?: string;
}

/** The stores a deletion must reach, in the order they are erased (docs/deletion.md). */
export const DELETION_STORES = ['online', 'lake', 'warehouse'] as const;
export type DeletionStore = (typeof DELETION_STORES)[number];

/** Where a request came in. */
export type DeletionIntake = 'cli' | 'http' | 'topic';

/** The audit of one store of one request. */
export interface StoreStatus {
  state: 'open' | 'done';
  /** When the store was erased and verified (RFC 3339), null while open. */
  done_at: string | null;
  /** How it was verified: the scan and what it found (zero rows, zero keys, zero versions). */
  verification: string | null;
  attempts: number;
  last_error: string | null;
}

/** A registered request with its per-store audit (one JSON object per request in the registry). */
export interface DeletionRecord {
  request_id: string;
  user_id: string;
  received_at: string;
  registered_at: string;
  /**
   * Every record of the user with an event time before this (epoch ms) is erased everywhere,
   * and dropped when it arrives late or is replayed: the registration time. Records from at or
   * after it are a returning customer's (docs/deletion.md).
   */
  deleted_before_ms: number;
  intake: DeletionIntake;
  stores: Record<DeletionStore, StoreStatus>;
  /** When the last store was done (RFC 3339), null while any is open. */
  closed_at: string | null;
}

/** Request ids: also an object name in the registry, so a closed character class. */
export const REQUEST_ID_PATTERN = '^[A-Za-z0-9_.:-]{1,128}$';
const REQUEST_ID = new RegExp(REQUEST_ID_PATTERN);
const USER_ID = new RegExp(USER_ID_PATTERN);
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
/** How far in the future a received_at may be (clock skew between the sender and us). */
const MAX_FUTURE_SKEW_MS = 5 * 60_000;

/** The JSON schema of a request (the admin endpoint's body, documented in docs/deletion.md). */
export const deletionRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['request_id', 'user_id'],
  properties: {
    request_id: { type: 'string', pattern: REQUEST_ID_PATTERN },
    user_id: { type: 'string', pattern: USER_ID_PATTERN },
    received_at: { type: 'string', pattern: RFC3339.source },
  },
} as const;

export type ParsedDeletionRequest = { ok: true; request: Required<DeletionRequestInput> } | { ok: false; field: string; message: string };

/** Validates a request; a bad one names its field (never quoting the value). */
export function parseDeletionRequest(value: unknown, nowMs: number = Date.now()): ParsedDeletionRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, field: '(body)', message: 'a deletion request must be a JSON object' };
  const body = value as Record<string, unknown>;
  const extra = Object.keys(body).find((key) => !(key in deletionRequestSchema.properties));
  if (extra !== undefined) return { ok: false, field: extra, message: `unknown field ${JSON.stringify(extra.slice(0, 64))}: a request has request_id, user_id and received_at` };
  if (typeof body.request_id !== 'string' || !REQUEST_ID.test(body.request_id)) return { ok: false, field: 'request_id', message: `request_id must be a string matching ${REQUEST_ID_PATTERN}` };
  if (typeof body.user_id !== 'string' || !USER_ID.test(body.user_id)) return { ok: false, field: 'user_id', message: `user_id must be a string matching ${USER_ID_PATTERN}` };
  let receivedAt = new Date(nowMs).toISOString();
  if (body.received_at !== undefined) {
    const ms = typeof body.received_at === 'string' && RFC3339.test(body.received_at) ? Date.parse(body.received_at) : Number.NaN;
    if (!Number.isFinite(ms)) return { ok: false, field: 'received_at', message: 'received_at must be an RFC 3339 timestamp, e.g. 2026-12-01T12:00:00Z' };
    if (ms > nowMs + MAX_FUTURE_SKEW_MS) return { ok: false, field: 'received_at', message: 'received_at is in the future' };
    receivedAt = new Date(ms).toISOString();
  }
  return { ok: true, request: { request_id: body.request_id, user_id: body.user_id, received_at: receivedAt } };
}

/** A new record: every store open. */
export function newDeletionRecord(request: Required<DeletionRequestInput>, intake: DeletionIntake, nowMs: number): DeletionRecord {
  const open = (): StoreStatus => ({ state: 'open', done_at: null, verification: null, attempts: 0, last_error: null });
  return {
    request_id: request.request_id,
    user_id: request.user_id,
    received_at: request.received_at,
    registered_at: new Date(nowMs).toISOString(),
    deleted_before_ms: nowMs,
    intake,
    stores: { online: open(), lake: open(), warehouse: open() },
    closed_at: null,
  };
}
