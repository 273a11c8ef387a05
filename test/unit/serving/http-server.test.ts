import { Ajv } from 'ajv';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildServingApp, ERROR_RESPONSE_OF_KIND, HTTP_ERRORS, ServingMetrics, type ReadinessReport } from '../../../sidecar/src/serving/index.ts';
import { clientOnlyRead, FakeReader, fixtureClient, servingRegistry } from '../../helpers/serving.ts';

const READY: ReadinessReport = {
  ready: true,
  checks: { redis: { ok: true, detail: 'PING answered' }, registry: { ok: true, detail: 'loaded' }, watermarks: { ok: true, detail: 'fresh' } },
  reasons: [],
};

function app(options: { reader?: FakeReader; readiness?: ReadinessReport } = {}) {
  const reader = options.reader ?? new FakeReader({ u1: clientOnlyRead() });
  const metrics = new ServingMetrics({ defaultMetrics: false });
  const instance = buildServingApp({ client: fixtureClient(reader, undefined, 3), readiness: { check: async () => options.readiness ?? READY }, metrics });
  onTestFinished(() => instance.close());
  return { instance, reader, metrics };
}

describe('serving HTTP API', () => {
  it('answers GET /v1/features/:userId with every feature, its timestamps and status', async () => {
    const { instance } = app();
    const res = await instance.inject({ method: 'GET', url: '/v1/features/u1' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.user_id).toBe('u1');
    expect(body.status).toBe('present');
    expect(Object.keys(body.features).sort()).toEqual(
      servingRegistry()
        .features.map((f) => f.name)
        .sort(),
    );
    expect(body.features.errors_last_1h).toMatchObject({ value: 3, status: 'present', latest_event_at: expect.stringMatching(/Z$/), staleness_ms: 1000 });
  });

  it('answers an unknown user with 200, defaults and status missing', async () => {
    const res = await app().instance.inject({ method: 'GET', url: '/v1/features/never-seen' });
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('missing');
    expect(res.json().features.min_amount_last_1h.value).toBeNull();
  });

  it.each([
    ['a user id with a forbidden character', '/v1/features/bad%7Bid', 'params/userId must match pattern "^[A-Za-z0-9_.-]{1,64}$"'],
    ['a user id longer than 64 characters', `/v1/features/${'a'.repeat(65)}`, 'params/userId must NOT have more than 64 characters'],
    ['a user id far longer than the router limit', `/v1/features/${'a'.repeat(200)}`, 'params/userId must NOT have more than 64 characters'],
  ])('rejects %s with 400 naming the field', async (_what, url, message) => {
    const { instance, reader } = app();
    const res = await instance.inject({ method: 'GET', url });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'bad_request', message });
    expect(reader.calls).toEqual([]);
  });

  it('answers POST /v1/features:batch in request order', async () => {
    const { instance, reader } = app();
    const res = await instance.inject({ method: 'POST', url: '/v1/features:batch', payload: { user_ids: ['u1', 'nobody', 'u1'] } });
    expect(res.statusCode).toBe(200);
    expect(res.json().results.map((r: { user_id: string; status: string }) => `${r.user_id}:${r.status}`)).toEqual(['u1:present', 'nobody:missing', 'u1:present']);
    expect(reader.calls).toHaveLength(1);
  });

  it.each([
    ['an empty batch', { user_ids: [] }, 'body/user_ids must NOT have fewer than 1 items'],
    ['a batch over the limit', { user_ids: ['a', 'b', 'c', 'd'] }, 'body/user_ids must NOT have more than 3 items'],
    ['an invalid id inside a batch', { user_ids: ['a', 'b c'] }, 'body/user_ids/1 must match pattern "^[A-Za-z0-9_.-]{1,64}$"'],
    ['a non-string id', { user_ids: ['a', 7] }, 'body/user_ids/1 must be string'],
    ['a missing user_ids', { ids: ['a'] }, "body must have required property 'user_ids'"],
    ['an unknown property', { user_ids: ['a'], as_of: 1 }, 'body must NOT have additional properties'],
    ['user_ids that is not an array', { user_ids: 'a' }, 'body/user_ids must be array'],
  ])('rejects %s with 400 naming the field', async (_what, payload, message) => {
    const res = await app().instance.inject({ method: 'POST', url: '/v1/features:batch', payload });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'bad_request', message });
  });

  it('rejects a body that is not JSON with 400, and a body of another media type with 415, quoting neither', async () => {
    const { instance } = app();
    const garbled = await instance.inject({ method: 'POST', url: '/v1/features:batch', headers: { 'content-type': 'application/json' }, payload: '{"user_ids": ["quoted-back?"' });
    expect(garbled.statusCode).toBe(400);
    expect(garbled.json()).toEqual({ error: 'bad_request', message: 'the body is not valid JSON' });
    const text = await instance.inject({ method: 'POST', url: '/v1/features:batch', headers: { 'content-type': 'text/plain' }, payload: 'u1' });
    expect(text.statusCode).toBe(415);
    expect(text.json()).toEqual({ error: 'unsupported_media_type', message: 'the body must be application/json' });
  });

  it('answers 503 with a retry hint when Redis fails, and counts it', async () => {
    const { instance, reader, metrics } = app();
    reader.failWith = new Error('Connection is closed.');
    const res = await instance.inject({ method: 'GET', url: '/v1/features/u1' });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json()).toEqual({ error: 'store_unavailable', message: 'feature store read failed: Connection is closed.' });
    expect(await metrics.registry.getSingleMetricAsString('churnfeat_serving_store_errors_total')).toContain('code="store_unavailable"} 1');
  });

  it('answers 503 registry_mismatch when the read function of our registry is not loaded', async () => {
    const { instance, reader } = app();
    reader.failWith = new Error('ERR Function not found');
    const res = await instance.inject({ method: 'POST', url: '/v1/features:batch', payload: { user_ids: ['u1'] } });
    expect(res.statusCode).toBe(503);
    expect(res.json().error).toBe('registry_mismatch');
  });

  it('answers /healthz 200 and /readyz 200 or 503 with the reasons', async () => {
    expect((await app().instance.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app().instance.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    const down: ReadinessReport = { ...READY, ready: false, checks: { ...READY.checks, redis: { ok: false, detail: 'Redis does not answer' } }, reasons: ['redis: Redis does not answer'] };
    const { instance, metrics } = app({ readiness: down });
    const res = await instance.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json().reasons).toEqual(['redis: Redis does not answer']);
    expect(await metrics.registry.getSingleMetricAsString('churnfeat_serving_ready')).toMatch(/churnfeat_serving_ready 0/);
  });

  it('exposes request latency per route and the users read by status on /metrics', async () => {
    const { instance } = app();
    await instance.inject({ method: 'GET', url: '/v1/features/u1' });
    await instance.inject({ method: 'GET', url: '/v1/features/nobody' });
    const res = await instance.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toContain('churnfeat_serving_request_duration_seconds_count{method="GET",route="/v1/features/:userId",status_code="200"} 2');
    expect(res.body).toContain('churnfeat_serving_users_read_total{status="present"} 1');
    expect(res.body).toContain('churnfeat_serving_users_read_total{status="missing"} 1');
  });

  it('answers unknown routes with a JSON 404 that does not repeat the path', async () => {
    const res = await app().instance.inject({ method: 'GET', url: '/v2/anything' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'not_found', message: 'no route has this path' });
  });

  it('answers a declared path asked with another method with 405 and allow', async () => {
    const { instance } = app();
    const res = await instance.inject({ method: 'DELETE', url: '/v1/features/u1' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
    expect((await instance.inject({ method: 'GET', url: '/v1/features:batch' })).headers.allow).toBe('POST');
  });

  it('has no route that writes outside the admin surface, and no admin surface without a token', async () => {
    const { instance } = app();
    await instance.ready();
    const routes = instance.printRoutes({ commonPrefix: false, includeMeta: false });
    // POST /v1/features:batch is a read (a body carries the ids); every other route is GET/HEAD.
    const methods = [...routes.matchAll(/\(([A-Z, ]+)\)/g)].flatMap((m) => (m[1] as string).split(', '));
    expect(new Set(methods)).toEqual(new Set(['GET', 'HEAD', 'POST']));
    expect(routes.match(/POST/g)).toHaveLength(1);
    expect(routes).toContain('features:batch (POST)');
    expect(routes).not.toContain('admin');
  });

  it('lets admin routes answer only with the token, and turns them off (404) without one', async () => {
    const metrics = new ServingMetrics({ defaultMetrics: false });
    const build = (token: string) => {
      const instance = buildServingApp({
        client: fixtureClient(new FakeReader({}), undefined, 3),
        readiness: { check: async () => READY },
        metrics,
        admin: { token, routes: (scope) => scope.post('/echo', async () => ({ done: true })) },
      });
      onTestFinished(() => instance.close());
      return instance;
    };
    const on = build('s3cret-token');
    expect((await on.inject({ method: 'POST', url: '/admin/echo', headers: { authorization: 'Bearer s3cret-token' } })).json()).toEqual({ done: true });
    for (const authorization of [undefined, 'Bearer wrong', 's3cret-token', 'Bearer s3cret-token2']) {
      const res = await on.inject({ method: 'POST', url: '/admin/echo', headers: authorization === undefined ? {} : { authorization } });
      expect(res.statusCode, String(authorization)).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(res.json().error).toBe('unauthorized');
    }
    const off = build('');
    expect((await off.inject({ method: 'POST', url: '/admin/echo', headers: { authorization: 'Bearer ' } })).statusCode).toBe(404);
  });

  it('lists every error answer of the HTTP layer in the OpenAPI document', async () => {
    const doc = (await app().instance.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const [kind, name] of Object.entries(ERROR_RESPONSE_OF_KIND)) {
      expect(doc.components.responses[name]?.['x-status'], kind).toBe(HTTP_ERRORS[kind as keyof typeof HTTP_ERRORS].status);
    }
    expect(Object.keys(ERROR_RESPONSE_OF_KIND).sort()).toEqual(Object.keys(HTTP_ERRORS).sort());
    expect(doc.components.responses.MethodNotAllowed.headers.allow).toBeDefined();
    for (const ref of JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/responses\/([A-Za-z]+)"/g)) expect(doc.components.responses[ref[1] as string]).toBeDefined();
  });

  it('serves an OpenAPI 3.1 document whose schemas are the ones it enforces', async () => {
    const res = await app().instance.inject({ method: 'GET', url: '/openapi.json' });
    const doc = res.json();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(['/v1/features/{userId}', '/v1/features:batch', '/healthz', '/readyz', '/metrics', '/openapi.json']);
    expect(doc.paths['/v1/features:batch'].post.requestBody.content['application/json'].schema.properties.user_ids.maxItems).toBe(3);
    // The documented response schema accepts what the service actually answers.
    const schema = doc.paths['/v1/features/{userId}'].get.responses['200'].content['application/json'].schema;
    const ajv = new Ajv({ strict: false });
    ajv.addFormat('date-time', true);
    const validate = ajv.compile(schema);
    const answer = (await app().instance.inject({ method: 'GET', url: '/v1/features/u1' })).json();
    expect(validate(answer), JSON.stringify(validate.errors)).toBe(true);
  });
});
