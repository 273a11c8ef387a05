import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { registerExplainRoute, type Explainer } from './explain-route.ts';
import type { FeatureClient } from './feature-client.ts';
import { clientErrorHandler, errorBody, HTTP_ERRORS, kindOfError, MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_URL_BYTES, type HttpErrorKind } from './http-errors.ts';
import { batchRequestSchema, batchResponseSchema, errorSchema, healthSchema, readinessSchema, userFeaturesSchema, userIdSchema } from './http-schemas.ts';
import { openApiDocument } from './openapi.ts';
import type { ReadinessReport } from './readiness.ts';
import { ServingError } from './serving-error.ts';
import type { ServingMetrics } from './serving-metrics.ts';

/** The admin surface: routes that write, under /admin/, each request needing the token. */
export interface AdminSurface {
  /** The bearer token every admin request must carry; '' turns the admin surface off (its routes answer 404). */
  token: string;
  /** Registers the admin routes on a scope whose paths start with /admin. */
  routes(scope: FastifyInstance): void;
  /** The OpenAPI `paths` of those routes, keyed by their path below /admin. Default: none. */
  openapi?: Record<string, unknown>;
}

const REGISTERED = new WeakMap<FastifyInstance, Array<{ method: string; url: string }>>();

/** Every route the app registered (method and fastify path), HEAD routes fastify adds for GET included. */
export function registeredRoutes(app: FastifyInstance): ReadonlyArray<{ method: string; url: string }> {
  return REGISTERED.get(app) ?? [];
}

export interface ServingAppOptions {
  client: FeatureClient;
  readiness: { check(): Promise<ReadinessReport> };
  metrics: ServingMetrics;
  /** Fastify's logger option. Default: false (the CLI passes a pino config). */
  logger?: FastifyServerOptions['logger'];
  /** Admin routes (none today; a later deletion endpoint goes here). Default: none. */
  admin?: AdminSurface;
  /** "Explain this value" (GET /v1/users/:userId/explain, explain-route.ts). Default: the route is absent. */
  explain?: Explainer;
  /** More read-only routes (the operations page, ops-page.ts). Default: none. */
  routes?: Array<(app: FastifyInstance) => void>;
  /** The OpenAPI `paths` of those routes. Default: none. */
  openapi?: Record<string, unknown>;
}

/** HTTP status and stable code of a ServingError. */
const SERVING_ERROR_STATUS = {
  invalid_user_id: [400, 'bad_request'],
  invalid_batch: [400, 'bad_request'],
  invalid_parameter: [400, 'bad_request'],
  store_unavailable: [503, 'store_unavailable'],
  registry_mismatch: [503, 'registry_mismatch'],
} as const;

/**
 * The service's admin routes, registered under /admin behind the token. None yet: the
 * deletion endpoint of a later issue registers here.
 */
export function registerAdminRoutes(_scope: FastifyInstance): void {}

/** Where admin routes live. */
export const ADMIN_PREFIX = '/admin';

function sendError(reply: FastifyReply, kind: HttpErrorKind): FastifyReply {
  return reply.code(HTTP_ERRORS[kind].status).type('application/json; charset=utf-8').send(errorBody(kind));
}

/** A route path of find-my-way ("/v1/features/:userId", "::" for a literal colon, a trailing "*" wildcard) as a regex over request paths. */
function routePattern(url: string): RegExp {
  const parts = url.split('::').map((part) =>
    part
      .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace(/:[A-Za-z0-9_]+/g, '[^/]+')
      .replace(/\*/g, '.*'),
  );
  return new RegExp(`^${parts.join(':')}$`);
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/** An onRequest hook that lets a request through only with `authorization: Bearer <token>` (compared in constant time). */
function requireToken(token: string) {
  const expected = sha256(token);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const match = /^Bearer (.+)$/.exec(request.headers.authorization ?? '');
    if (match && timingSafeEqual(sha256(match[1] as string), expected)) return;
    void reply.header('www-authenticate', 'Bearer');
    return sendError(reply, 'unauthorized');
  };
}

/**
 * The serving HTTP API (fastify): GET /v1/features/:userId, POST /v1/features:batch,
 * GET /v1/users/:userId/explain (when an explainer is given),
 * /healthz, /readyz, /metrics, /openapi.json, and the admin routes when a token is set.
 * Requests are validated by fastify's ajv against http-schemas.ts. Every error, fastify's
 * and Node's own included, answers `{error, message}` without quoting the request
 * (http-errors.ts); a declared path asked with another method answers 405 with `allow`.
 */
export function buildServingApp(options: ServingAppOptions): FastifyInstance {
  const { client, metrics, readiness } = options;
  const registry = client.registry;
  const app = Fastify({
    logger: options.logger ?? false,
    // One log line per request would cost more than the read itself at 20K requests/s.
    logController: new LogController({ disableRequestLogging: true }),
    // Long ids must reach validation (400), not fall off the router: the URL limit (414) comes first.
    routerOptions: { maxParamLength: MAX_URL_BYTES },
    bodyLimit: MAX_BODY_BYTES,
    http: { maxHeaderSize: MAX_HEADER_BYTES },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    // Node's parser refuses some requests before fastify (head too large, not HTTP): answer them in our shape.
    clientErrorHandler,
    // Fastify's own answers to a bad percent-encoding or an over-long parameter quote the URL.
    frameworkErrors: (error, _request, reply) => {
      void sendError(reply, kindOfError(error));
    },
  });

  // Paths and their methods, for the 405 of a declared path asked with another method.
  const routes: Array<{ pattern: RegExp; methods: Set<string> }> = [];
  const registered: Array<{ method: string; url: string }> = [];
  REGISTERED.set(app, registered);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) registered.push({ method, url: route.url });
    const pattern = routePattern(route.url);
    const known = routes.find((r) => r.pattern.source === pattern.source);
    if (known) for (const method of methods) known.methods.add(method);
    else routes.push({ pattern, methods: new Set(methods) });
  });

  app.addHook('onRequest', async (request, reply) => {
    if (request.url.length > MAX_URL_BYTES) return sendError(reply, 'uri_too_long');
    // Unmatched: a declared path with another method is a 405, answered here, before a body
    // (QUERY, PUT, ...) would be parsed for the not-found handler.
    if (request.is404) {
      const path = request.url.split('?')[0] as string;
      const allowed = routes.filter((r) => r.pattern.test(path)).flatMap((r) => [...r.methods]);
      if (allowed.length === 0) return;
      void reply.header('allow', [...new Set(allowed)].sort().join(', '));
      return sendError(reply, 'method_not_allowed');
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    metrics.requestSeconds.observe({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  // The batch takes JSON only (text/plain is fastify's other default parser): anything else is a 415.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((error: FastifyError, request, reply) => {
    // The message names the field and the rule (e.g. 'params/userId must match pattern "..."'), never the value.
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
    const kind = kindOfError(error);
    if (kind === 'internal') request.log.error({ err: error }, 'request failed');
    return sendError(reply, kind);
  });

  app.setNotFoundHandler((_request, reply) => sendError(reply, 'not_found'));

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

  if (options.explain) registerExplainRoute(app, registry, options.explain, metrics);

  const admin = options.admin;
  const adminOn = admin !== undefined && admin.token !== '';
  const adminPaths = adminOn ? Object.fromEntries(Object.entries(admin.openapi ?? {}).map(([path, item]) => [`${ADMIN_PREFIX}${path}`, item])) : {};
  const document = openApiDocument(registry, client.maxBatch, { explain: options.explain !== undefined }, { ...options.openapi, ...adminPaths });
  app.get('/openapi.json', async () => document);

  for (const register of options.routes ?? []) register(app);

  if (adminOn) {
    void app.register(
      async (scope) => {
        scope.addHook('onRequest', requireToken(admin.token));
        admin.routes(scope);
      },
      { prefix: ADMIN_PREFIX },
    );
  }

  return app;
}
