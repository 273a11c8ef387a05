import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { FeatureClient } from './feature-client.ts';
import { batchRequestSchema, batchResponseSchema, errorSchema, healthSchema, readinessSchema, userFeaturesSchema, userIdSchema } from './http-schemas.ts';
import { openApiDocument } from './openapi.ts';
import type { ReadinessReport } from './readiness.ts';
import { ServingError } from './serving-error.ts';
import type { ServingMetrics } from './serving-metrics.ts';

export interface ServingAppOptions {
  client: FeatureClient;
  readiness: { check(): Promise<ReadinessReport> };
  metrics: ServingMetrics;
  /** Fastify's logger option. Default: false (the CLI passes a pino config). */
  logger?: FastifyServerOptions['logger'];
}

/** HTTP status and stable code of a ServingError. */
const SERVING_ERROR_STATUS = {
  invalid_user_id: [400, 'bad_request'],
  invalid_batch: [400, 'bad_request'],
  store_unavailable: [503, 'store_unavailable'],
  registry_mismatch: [503, 'registry_mismatch'],
} as const;

/**
 * The serving HTTP API (fastify): GET /v1/features/:userId, POST /v1/features:batch,
 * /healthz, /readyz, /metrics, /openapi.json. Requests are validated by fastify's ajv
 * against http-schemas.ts; every error answers `{error, message}`.
 */
export function buildServingApp(options: ServingAppOptions): FastifyInstance {
  const { client, metrics, readiness } = options;
  const registry = client.registry;
  const app = Fastify({
    logger: options.logger ?? false,
    // One log line per request would cost more than the read itself at 20K requests/s.
    logController: new LogController({ disableRequestLogging: true }),
    // Long ids must reach validation (400), not fall off the router (404).
    routerOptions: { maxParamLength: 1_024 },
    bodyLimit: 256 * 1024,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });

  app.addHook('onResponse', async (request, reply) => {
    metrics.requestSeconds.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) return reply.code(400).send({ error: 'bad_request', message: error.message });
    if (error instanceof ServingError) {
      const [status, code] = SERVING_ERROR_STATUS[error.code];
      if (status >= 500) {
        metrics.storeErrors.inc({ code: error.code });
        request.log.warn({ err: error }, 'read failed');
        if (error.retryable) void reply.header('retry-after', '1');
      }
      return reply.code(status).send({ error: code, message: error.message });
    }
    const status = error.statusCode ?? 500;
    if (status < 500) return reply.code(status).send({ error: 'bad_request', message: error.message });
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error' });
  });

  app.setNotFoundHandler((request, reply) => reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` }));

  const errors = { 400: errorSchema, 503: errorSchema };

  app.get<{ Params: { userId: string } }>(
    '/v1/features/:userId',
    { schema: { params: { type: 'object', required: ['userId'], properties: { userId: userIdSchema } }, response: { 200: userFeaturesSchema(registry), ...errors } } },
    async (request) => {
      const answer = await client.get(request.params.userId);
      metrics.usersRead.inc({ status: answer.status });
      return answer;
    },
  );

  // "::" is find-my-way's escape for a literal colon (Google-style custom method).
  app.post<{ Body: { user_ids: string[] } }>(
    '/v1/features::batch',
    { schema: { body: batchRequestSchema(client.maxBatch), response: { 200: batchResponseSchema(registry), ...errors } } },
    async (request) => {
      metrics.batchSize.observe(request.body.user_ids.length);
      const results = await client.getMany(request.body.user_ids);
      metrics.countUsers(results);
      return { results };
    },
  );

  app.get('/healthz', { schema: { response: { 200: healthSchema } } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { response: { 200: readinessSchema, 503: readinessSchema } } }, async (_request, reply) => {
    const report = await readiness.check();
    metrics.ready.set(report.ready ? 1 : 0);
    return reply.code(report.ready ? 200 : 503).send(report);
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(body);
  });

  const document = openApiDocument(registry, client.maxBatch);
  app.get('/openapi.json', async () => document);

  return app;
}
