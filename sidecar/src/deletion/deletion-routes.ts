import type { FastifyInstance } from 'fastify';
import { DeletionConflictError, type DeletionRegistry } from './deletion-registry.ts';
import { ANY_REQUEST, errorRefs, json } from '../serving/index.ts';
import { DELETION_STORES, deletionRequestSchema, parseDeletionRequest, REQUEST_ID_PATTERN, type DeletionRecord } from './deletion-request.ts';

/** The admin paths, under the serving API's /admin prefix (behind its bearer token). */
export const DELETIONS_PATH = '/v1/deletions';

/** What both admin routes answer about a request (`summary`). */
const deletionSummarySchema = {
  type: 'object',
  required: ['request_id', 'created', 'received_at', 'deleted_before_ms', 'stores', 'closed_at'],
  properties: {
    request_id: { type: 'string', pattern: REQUEST_ID_PATTERN },
    created: { type: 'boolean', description: 'true: registered by this call (202); false: registered before (200, the first record)' },
    received_at: { type: 'string', format: 'date-time' },
    deleted_before_ms: { type: 'integer', description: 'every record of the user with an event time before this (epoch ms) is erased' },
    stores: { type: 'object', required: [...DELETION_STORES], properties: Object.fromEntries(DELETION_STORES.map((s) => [s, { enum: ['open', 'done'] }])) },
    closed_at: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

/**
 * The OpenAPI paths of the admin deletion routes, below /admin (http-server.ts prefixes them and
 * lists them only when the admin surface is on). Every admin request can answer 401.
 */
export const DELETION_OPENAPI_PATHS: Record<string, unknown> = {
  [DELETIONS_PATH]: {
    post: {
      operationId: 'registerDeletion',
      summary: 'Registers a GDPR/CCPA erasure request (docs/deletion.md); idempotent by request_id',
      security: [{ adminToken: [] }],
      requestBody: { required: true, content: { 'application/json': { schema: deletionRequestSchema } } },
      responses: {
        200: json(deletionSummarySchema, 'The same request_id was registered before for the same user: the first record, nothing changed.'),
        202: json(deletionSummarySchema, 'Registered; `churnfeat delete run` erases the stores.'),
        ...errorRefs(...ANY_REQUEST, 'Unauthorized', 'Conflict', 'PayloadTooLarge', 'UnsupportedMediaType'),
      },
    },
  },
  [`${DELETIONS_PATH}/{requestId}`]: {
    get: {
      operationId: 'getDeletion',
      summary: 'The per-store status of an erasure request',
      security: [{ adminToken: [] }],
      parameters: [{ name: 'requestId', in: 'path', required: true, schema: { type: 'string', pattern: REQUEST_ID_PATTERN } }],
      responses: { 200: json(deletionSummarySchema, 'The request.'), ...errorRefs(...ANY_REQUEST, 'Unauthorized', 'NotFound') },
    },
  },
};

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
