import { Ajv } from 'ajv';
import { describe, expect, it, onTestFinished } from 'vitest';
import { buildServingApp, ServingMetrics, type Explainer } from '../../../sidecar/src/serving/index.ts';
import { explainState, type ExplainRequest } from '../../../sidecar/src/store/index.ts';
import { clientOnlyRead, FakeReader, fixtureClient, servingRegistry } from '../../helpers/serving.ts';

/** A serving app whose explainer explains an empty state (or a tampered served value) and records what it was asked. */
function app(options: { served?: number } = {}) {
  const registry = servingRegistry();
  const asked: ExplainRequest[] = [];
  const explain: Explainer = async (request) => {
    asked.push(request);
    const asOfMs = request.asOfMs ?? 1_700_000_000_000;
    const features = registry.features.filter((f) => request.features === undefined || request.features.includes(f.name));
    const served = {
      present: false,
      as_of_ms: asOfMs,
      sources: {},
      features: Object.fromEntries(
        features.map((f) => [f.name, { value: options.served ?? (f.aggregation === 'count' || f.aggregation === 'sum' || f.aggregation === 'count_distinct' ? 0 : null), latest_event_ms: null }]),
      ),
    };
    return explainState({ userId: request.userId, registryVersion: registry.version, features, fields: {}, served, watermarks: new Map() });
  };
  const metrics = new ServingMetrics({ defaultMetrics: false });
  const instance = buildServingApp({
    client: fixtureClient(new FakeReader({ u1: clientOnlyRead() }), undefined, 3),
    readiness: { check: async () => ({ ready: true, checks: {}, reasons: [] }) as never },
    metrics,
    explain,
  });
  onTestFinished(() => instance.close());
  return { instance, asked, metrics, registry };
}

const counted = async (metrics: ServingMetrics, consistent: string) => (await metrics.explained.get()).values.find((v) => v.labels.consistent === consistent)?.value ?? 0;

describe('GET /v1/users/:userId/explain', () => {
  it('passes the user, the feature and as_of (RFC 3339 or epoch ms) to the explainer and answers its explanation', async () => {
    const { instance, asked, registry, metrics } = app();
    const feature = registry.features[0]!.name;
    const res = await instance.inject({ method: 'GET', url: `/v1/users/u1/explain?feature=${feature}&as_of=2026-01-13T03:00:00Z` });
    expect(res.statusCode).toBe(200);
    expect(asked).toEqual([{ userId: 'u1', asOfMs: Date.parse('2026-01-13T03:00:00Z'), features: [feature] }]);
    expect(res.json()).toMatchObject({ user_id: 'u1', version: registry.version, consistent: true, features: [{ feature }] });
    await instance.inject({ method: 'GET', url: '/v1/users/u1/explain?as_of=1768273200000' });
    expect(asked[1]).toEqual({ userId: 'u1', asOfMs: 1768273200000 });
    expect(await counted(metrics, 'true')).toBe(2);
  });

  it('is described in /openapi.json, and the answer matches the documented schema', async () => {
    const { instance } = app();
    const doc = (await instance.inject({ method: 'GET', url: '/openapi.json' })).json();
    const operation = doc.paths['/v1/users/{userId}/explain'].get;
    expect(operation.parameters.map((p: { name: string }) => p.name)).toEqual(['userId', 'feature', 'as_of']);
    const ajv = new Ajv({ strict: false });
    ajv.addFormat('date-time', true);
    const validate = ajv.compile(operation.responses['200'].content['application/json'].schema);
    const answer = (await instance.inject({ method: 'GET', url: '/v1/users/u1/explain' })).json();
    expect(validate(answer), JSON.stringify(validate.errors)).toBe(true);
  });

  it.each([
    ['as_of=yesterday', /querystring\/as_of must match pattern/],
    ['as_of=2026-01-13T03:00:00', /querystring\/as_of/],
    ['as_of=99999999999999999', /querystring\/as_of/],
    ['feature=no_such_feature', /querystring\/feature must be equal to one of the allowed values/],
    ['other=1', /querystring must NOT have additional properties/],
  ])('answers 400 naming the parameter for %s', async (query, message) => {
    const { instance, asked } = app();
    const res = await instance.inject({ method: 'GET', url: `/v1/users/u1/explain?${query}` });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'bad_request', message: expect.stringMatching(message) });
    expect(asked).toEqual([]);
  });

  it('answers 400 for a malformed user id, and counts an inconsistent explanation', async () => {
    const { instance, metrics } = app({ served: 7 });
    expect((await instance.inject({ method: 'GET', url: '/v1/users/bad%20id/explain' })).statusCode).toBe(400);
    const res = await instance.inject({ method: 'GET', url: '/v1/users/u1/explain' });
    expect(res.json().consistent).toBe(false);
    expect(await counted(metrics, 'false')).toBe(1);
  });
});
