import type { FeatureRegistry } from '../features/index.ts';
import { explainQuerySchema, explainResponseSchema } from './explain-route.ts';
import { HTTP_ERRORS, type HttpErrorKind } from './http-errors.ts';
import { batchRequestSchema, batchResponseSchema, errorSchema, healthSchema, readinessSchema, userFeaturesSchema, userIdSchema } from './http-schemas.ts';

/** A JSON response entry of an OpenAPI operation. */
export const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });
const header = (description: string) => ({ description, schema: { type: 'string' } });

/** The shared error answers: name in components.responses, status, description (and headers). */
const ERROR_RESPONSES = {
  BadRequest: {
    status: 400,
    description: 'The request is invalid: a validation failure (the message names the field and the rule), a bad percent-encoding, a body that is not JSON, or bytes that are not HTTP.',
  },
  Unauthorized: {
    status: 401,
    description: 'An admin route without a valid `authorization: Bearer <token>` (admin routes exist only when CHURNFEAT_ADMIN_TOKEN is set).',
    headers: { 'www-authenticate': header('Bearer') },
  },
  NotFound: { status: 404, description: 'No route has this path (admin routes too, when no admin token is configured).' },
  Conflict: { status: 409, description: 'The request contradicts what is already registered (an admin deletion request whose request_id is registered for another user).' },
  MethodNotAllowed: { status: 405, description: 'The path exists but does not answer this method.', headers: { allow: header('The methods the path answers, e.g. "GET, HEAD".') } },
  RequestTimeout: { status: 408, description: 'The request did not arrive in time.' },
  PayloadTooLarge: { status: 413, description: HTTP_ERRORS.payload_too_large.message },
  UriTooLong: { status: 414, description: HTTP_ERRORS.uri_too_long.message },
  UnsupportedMediaType: { status: 415, description: 'The body is not application/json.' },
  HeadersTooLarge: { status: 431, description: HTTP_ERRORS.headers_too_large.message },
  Internal: { status: 500, description: 'An unexpected failure of the service (logged); the message says nothing more.' },
  Unavailable: {
    status: 503,
    description: 'Redis does not answer (`store_unavailable`, with `retry-after: 1`), or the read function of this registry is not loaded (`registry_mismatch`).',
    headers: { 'retry-after': header('Seconds to wait before retrying (store_unavailable).') },
  },
} as const;

export type ErrorResponseName = keyof typeof ERROR_RESPONSES;

/** The error kinds of http-errors.ts each shared response stands for (a unit test checks that every kind is covered). */
export const ERROR_RESPONSE_OF_KIND: Readonly<Record<HttpErrorKind, ErrorResponseName>> = {
  bad_request: 'BadRequest',
  bad_url: 'BadRequest',
  bad_json: 'BadRequest',
  empty_json: 'BadRequest',
  bad_content_length: 'BadRequest',
  bad_http: 'BadRequest',
  unauthorized: 'Unauthorized',
  not_found: 'NotFound',
  method_not_allowed: 'MethodNotAllowed',
  request_timeout: 'RequestTimeout',
  payload_too_large: 'PayloadTooLarge',
  uri_too_long: 'UriTooLong',
  unsupported_media_type: 'UnsupportedMediaType',
  headers_too_large: 'HeadersTooLarge',
  internal: 'Internal',
};

/** `responses` entries referring to shared error answers, keyed by status. */
export function errorRefs(...names: ErrorResponseName[]): Record<string, { $ref: string }> {
  return Object.fromEntries(names.map((name) => [String(ERROR_RESPONSES[name].status), { $ref: `#/components/responses/${name}` }]));
}

const text = (type: string, description: string) => ({ description, content: { [type]: { schema: { type: 'string' } } } });

/** The paths of the operations page (ops-page.ts): HTML and its data for people, not an API; listed so the document names every route. */
export const OPS_OPENAPI_PATHS = {
  '/ops': { get: { operationId: 'opsPage', summary: 'The operations page (HTML)', responses: { 200: text('text/html', 'The page.') } } },
  '/ops/data.json': { get: { operationId: 'opsData', summary: 'The sections the operations page shows', responses: { 200: json({ type: 'object' }, 'The data.') } } },
  '/ops/assets/chart.umd.min.js': { get: { operationId: 'opsChartJs', summary: 'The chart library the page loads', responses: { 200: text('application/javascript', 'Chart.js.') } } },
  '/ops/reports/{path}': {
    get: {
      operationId: 'opsReport',
      summary: 'A file of the reports folder (parity and other job reports)',
      parameters: [{ name: 'path', in: 'path', required: true, schema: { type: 'string' } }],
      responses: { 200: { description: 'The file.' }, 404: { $ref: '#/components/responses/NotFound' } },
    },
  },
} as const;

/** What any request can answer before it reaches its route. */
export const ANY_REQUEST: ErrorResponseName[] = ['BadRequest', 'RequestTimeout', 'UriTooLong', 'HeadersTooLarge', 'Internal'];

/**
 * The OpenAPI 3.1 description of the serving API, built from the schemas fastify enforces
 * (served at GET /openapi.json). Every error answer is in components.responses (with its
 * status in `x-status`); each operation refers to those it can answer. 404 (no such path) and
 * 405 (a listed path with a method it does not list) belong to no operation. `extraPaths` are
 * the paths of the routes registered besides the fixed ones (the operations page, the admin
 * surface's under /admin).
 */
export function openApiDocument(registry: FeatureRegistry, maxBatch: number, routes: { explain?: boolean } = {}, extraPaths: Record<string, unknown> = {}): Record<string, unknown> {
  const responses = Object.fromEntries(
    Object.entries(ERROR_RESPONSES).map(([name, r]) => [name, { ...json(errorSchema, r.description), 'x-status': r.status, ...('headers' in r ? { headers: r.headers } : {}) }]),
  );
  const explain = routes.explain
    ? {
        '/v1/users/{userId}/explain': {
          get: {
            operationId: 'explainUserFeatures',
            summary: 'What produced each served value: tiles, running total and edge tiles, window, applied offsets, watermarks, registry version; recomputed and compared',
            parameters: [
              { name: 'userId', in: 'path', required: true, schema: userIdSchema },
              { name: 'feature', in: 'query', required: false, schema: explainQuerySchema(registry).properties.feature },
              { name: 'as_of', in: 'query', required: false, schema: explainQuerySchema(registry).properties.as_of },
            ],
            responses: {
              200: json(explainResponseSchema, 'The explanation; `consistent` is false (and each feature says why) when a recomputed value differs from the served one.'),
              ...errorRefs(...ANY_REQUEST, 'Unavailable'),
            },
          },
        },
      }
    : {};
  return {
    openapi: '3.1.0',
    info: {
      title: 'churnfeat online features',
      version: registry.version,
      description:
        'Churn features of a user, read from the online store in one Redis round trip: value, event time of the newest counted event, ' +
        'partition watermark, staleness and a status per feature. Unknown users get defaults with status "missing". ' +
        'Every error is {"error", "message"} (components.responses); a path asked with a method it does not list answers 405 with an allow header, ' +
        'an unknown path 404. The info.version is the feature registry version id the service started with; each answer names the version that ' +
        'served it (`version`): the active one, which the service follows (docs/lifecycle.md). See docs/serving.md.',
    },
    paths: {
      '/v1/features/{userId}': {
        get: {
          operationId: 'getUserFeatures',
          summary: 'Every feature of one user',
          parameters: [{ name: 'userId', in: 'path', required: true, schema: userIdSchema }],
          responses: { 200: json(userFeaturesSchema(registry), 'The features (defaults with status missing for unknown users).'), ...errorRefs(...ANY_REQUEST, 'Unavailable') },
        },
      },
      '/v1/features:batch': {
        post: {
          operationId: 'getUserFeaturesBatch',
          summary: `Every feature of up to ${maxBatch} users, in one pipelined round trip`,
          requestBody: { required: true, content: { 'application/json': { schema: batchRequestSchema(maxBatch) } } },
          responses: {
            200: json(batchResponseSchema(registry), 'One result per requested id, in request order.'),
            ...errorRefs(...ANY_REQUEST, 'PayloadTooLarge', 'UnsupportedMediaType', 'Unavailable'),
          },
        },
      },
      ...explain,
      '/healthz': { get: { operationId: 'healthz', summary: 'The process is up (liveness)', responses: { 200: json(healthSchema, 'Up.'), ...errorRefs(...ANY_REQUEST) } } },
      '/readyz': {
        get: {
          operationId: 'readyz',
          summary: 'Redis answers, our registry is loaded and the partition watermarks are fresh (readiness)',
          responses: { 200: json(readinessSchema, 'Ready.'), 503: json(readinessSchema, 'Not ready; `reasons` says why.'), ...errorRefs(...ANY_REQUEST) },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: 'Prometheus metrics',
          responses: { 200: { description: 'Prometheus text format.', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errorRefs(...ANY_REQUEST) },
        },
      },
      '/openapi.json': { get: { operationId: 'openapi', summary: 'This document', responses: { 200: json({ type: 'object' }, 'OpenAPI 3.1 document.'), ...errorRefs(...ANY_REQUEST) } } },
      ...extraPaths,
    },
    components: { responses, securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: 'CHURNFEAT_ADMIN_TOKEN (admin routes only)' } } },
  };
}
