import type { FastifyInstance } from 'fastify';
import type { FeatureRegistry } from '../features/index.ts';
import { parseInstant, type ExplainRequest, type StateExplanation } from '../store/index.ts';
import { toServingError } from './feature-client.ts';
import { errorSchema, userIdSchema } from './http-schemas.ts';
import { ServingError } from './serving-error.ts';
import type { ServingMetrics } from './serving-metrics.ts';

/** Builds the explanation of one user's served values (store/state-explainer.ts explainUser, bound to the service's Redis and prefix). */
export type Explainer = (request: ExplainRequest) => Promise<StateExplanation>;

/** The query string of the explain route: both optional. */
export function explainQuerySchema(registry: FeatureRegistry) {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      feature: { type: 'string', enum: registry.features.map((f) => f.name), description: 'Only this feature (default: every feature).' },
      as_of: {
        description: 'The instant explained: RFC 3339 with a zone (1971 to 9999), or epoch milliseconds (at most 15 digits); default: the Redis server clock, as a read.',
        // exactly what parseInstant accepts, so a schema-valid value is never refused
        type: 'string',
        pattern:
          '^([0-9]{1,15}|(197[1-9]|19[89][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))$',
      },
    },
  } as const;
}

/** The outline of an explanation (store/state-explanation.ts StateExplanation has every field). */
export const explainResponseSchema = {
  type: 'object',
  required: ['user_id', 'version', 'registry_version', 'as_of', 'as_of_ms', 'present', 'sources', 'watermarks', 'features', 'consistent'],
  properties: {
    user_id: { type: 'string' },
    version: { type: 'string', description: 'The keyspace version the state was read from (the registry version).' },
    registry_version: { type: 'string' },
    as_of: { type: 'string', format: 'date-time' },
    as_of_ms: { type: 'integer' },
    present: { type: 'boolean' },
    sources: { type: 'array', items: { type: 'object', description: 'source, partition, partition_key, offset (highest applied for the user), applied_ingest_ms, watermark_ms' } },
    watermarks: { type: 'object', additionalProperties: { type: 'integer' } },
    features: {
      type: 'array',
      items: {
        type: 'object',
        description: 'feature, window {from, to, tile_lo, tile_hi}, tiles [{index, start, stored, value}], running {base, total, top, path, below, above}, served, recomputed, consistent, discrepancy',
      },
    },
    consistent: { type: 'boolean' },
  },
} as const;

/** An `as_of` parameter as epoch ms; throws a ServingError naming the parameter when it is neither form or out of range. */
export function parseAsOfParameter(text: string): number {
  const ms = parseInstant(text);
  if (ms === null) throw new ServingError('invalid_parameter', 'querystring/as_of must be an RFC 3339 time with a zone (2026-01-13T03:00:00Z) or epoch milliseconds, from 1970 to year 275760');
  return ms;
}

/**
 * GET /v1/users/:userId/explain?feature=&as_of=: what produced each served value (the tiles,
 * the running total and its edge tiles, the window, the applied offsets per partition and the
 * watermarks, the registry version), recomputed from those parts and compared with the
 * served value (docs/data-quality.md, "Explain"). A read-only route: the state is read in one
 * transaction, nothing is written.
 */
export function registerExplainRoute(app: FastifyInstance, registry: FeatureRegistry, explain: Explainer, metrics?: Pick<ServingMetrics, 'explained'>): void {
  app.get<{ Params: { userId: string }; Querystring: { feature?: string; as_of?: string } }>(
    '/v1/users/:userId/explain',
    { schema: { params: { type: 'object', required: ['userId'], properties: { userId: userIdSchema } }, querystring: explainQuerySchema(registry), response: { 400: errorSchema, 503: errorSchema } } },
    async (request) => {
      const { feature, as_of: asOf } = request.query;
      const asOfMs = asOf === undefined ? undefined : parseAsOfParameter(asOf);
      let answer: StateExplanation;
      try {
        answer = await explain({ userId: request.params.userId, ...(asOfMs === undefined ? {} : { asOfMs }), ...(feature === undefined ? {} : { features: [feature] }) });
      } catch (error) {
        throw toServingError(error, registry.version);
      }
      metrics?.explained.inc({ consistent: String(answer.consistent) });
      return answer;
    },
  );
}
