import type { FeatureRegistry } from '../features/index.ts';
import { batchRequestSchema, batchResponseSchema, errorSchema, healthSchema, readinessSchema, userFeaturesSchema, userIdSchema } from './http-schemas.ts';

const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });

/**
 * The OpenAPI 3.1 description of the serving API, built from the schemas fastify enforces
 * (served at GET /openapi.json).
 */
export function openApiDocument(registry: FeatureRegistry, maxBatch: number): Record<string, unknown> {
  const badRequest = json(errorSchema, 'The request is invalid; the message names the field (e.g. "params/userId must match pattern ...").');
  const unavailable = json(errorSchema, 'Redis does not answer, or the read function of this registry is not loaded.');
  return {
    openapi: '3.1.0',
    info: {
      title: 'churnfeat online features',
      version: registry.version,
      description:
        'Churn features of a user, read from the online store in one Redis round trip: value, event time of the newest counted event, ' +
        'partition watermark, staleness and a status per feature. Unknown users get defaults with status "missing". ' +
        'The info.version is the feature registry version id. See docs/serving.md.',
    },
    paths: {
      '/v1/features/{userId}': {
        get: {
          operationId: 'getUserFeatures',
          summary: 'Every feature of one user',
          parameters: [{ name: 'userId', in: 'path', required: true, schema: userIdSchema }],
          responses: { 200: json(userFeaturesSchema(registry), 'The features (defaults with status missing for unknown users).'), 400: badRequest, 503: unavailable },
        },
      },
      '/v1/features:batch': {
        post: {
          operationId: 'getUserFeaturesBatch',
          summary: `Every feature of up to ${maxBatch} users, in one pipelined round trip`,
          requestBody: { required: true, content: { 'application/json': { schema: batchRequestSchema(maxBatch) } } },
          responses: { 200: json(batchResponseSchema(registry), 'One result per requested id, in request order.'), 400: badRequest, 503: unavailable },
        },
      },
      '/healthz': { get: { operationId: 'healthz', summary: 'The process is up (liveness)', responses: { 200: json(healthSchema, 'Up.') } } },
      '/readyz': {
        get: {
          operationId: 'readyz',
          summary: 'Redis answers, our registry is loaded and the partition watermarks are fresh (readiness)',
          responses: { 200: json(readinessSchema, 'Ready.'), 503: json(readinessSchema, 'Not ready; `reasons` says why.') },
        },
      },
      '/metrics': {
        get: { operationId: 'metrics', summary: 'Prometheus metrics', responses: { 200: { description: 'Prometheus text format.', content: { 'text/plain': { schema: { type: 'string' } } } } } },
      },
      '/openapi.json': { get: { operationId: 'openapi', summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1 document.' } } } },
    },
  };
}
