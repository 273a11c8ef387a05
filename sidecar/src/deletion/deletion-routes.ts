import type { FastifyInstance } from 'fastify';
import { DeletionConflictError, type DeletionRegistry } from './deletion-registry.ts';
import { parseDeletionRequest, REQUEST_ID_PATTERN, type DeletionRecord } from './deletion-request.ts';

/** The admin paths, under the serving API's /admin prefix (behind its bearer token). */
export const DELETIONS_PATH = '/v1/deletions';

function summary(record: DeletionRecord, created: boolean): Record<string, unknown> {
  return {
    request_id: record.request_id,
    created,
    received_at: record.received_at,
    deleted_before_ms: record.deleted_before_ms,
    stores: Object.fromEntries(Object.entries(record.stores).map(([store, status]) => [store, status.state])),
    closed_at: record.closed_at,
  };
}

/**
 * POST /admin/v1/deletions `{request_id, user_id, received_at?}`: registers an erasure
 * request (202; the same request again: 200 with the first record; a request id reused for
 * another user: 409; a bad field: 400 naming it). GET /admin/v1/deletions/:requestId: its
 * per-store status. The stores are erased by `churnfeat delete run` (docs/deletion.md), which
 * holds the write credentials the serving API does not.
 */
export function registerDeletionRoutes(scope: FastifyInstance, registry: DeletionRegistry): void {
  scope.post(DELETIONS_PATH, async (request, reply) => {
    const parsed = parseDeletionRequest(request.body);
    if (!parsed.ok) return reply.code(400).send({ error: 'bad_request', message: `${parsed.field}: ${parsed.message}` });
    try {
      const { record, created } = await registry.register(parsed.request, 'http');
      return reply.code(created ? 202 : 200).send(summary(record, created));
    } catch (error) {
      if (error instanceof DeletionConflictError) return reply.code(409).send({ error: 'conflict', message: `request_id: ${error.message}` });
      throw error;
    }
  });

  scope.get<{ Params: { requestId: string } }>(`${DELETIONS_PATH}/:requestId`, async (request, reply) => {
    if (!new RegExp(REQUEST_ID_PATTERN).test(request.params.requestId)) return reply.code(400).send({ error: 'bad_request', message: `requestId must match ${REQUEST_ID_PATTERN}` });
    const record = await registry.get(request.params.requestId);
    if (record === null) return reply.code(404).send({ error: 'not_found', message: 'no deletion request with this request_id' });
    return reply.code(200).send(summary(record, false));
  });
}
