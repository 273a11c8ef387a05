/**
 * The serving API's OpenAPI document, wired as `churnfeat serve` wires it (the deletion admin
 * routes and the operations page included): it lists every route the app registered, and the
 * admin deletion routes with their 400/401/404/409 answers, which the running service gives.
 */
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DELETION_OPENAPI_PATHS, DeletionRegistry, registerDeletionRoutes } from '../../../sidecar/src/deletion/index.ts';
import { LocalLakeStorage } from '../../../sidecar/src/lake/index.ts';
import { registeredRoutes, startServingService } from '../../../sidecar/src/serving/index.ts';
import { conformanceRegistry, tempDir } from '../../helpers/consumers.ts';
import { REDIS_URL, testNamespace } from '../../helpers/stack.ts';

const TOKEN = 'openapi-test-admin-token-0123456789';

/** A fastify path ("/v1/features/:userId", "/ops/reports/*", "::" for a literal colon) as an OpenAPI path. */
function openApiPath(url: string): string {
  return url
    .split('::')
    .map((part) => part.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{path}'))
    .join(':');
}

async function serve(adminToken: string) {
  const registry = new DeletionRegistry(new LocalLakeStorage(join(tempDir('churnfeat-openapi-'), 'lake')));
  const serving = await startServingService({ redisUrl: REDIS_URL, keyPrefix: testNamespace().id, port: 0, adminToken, logLevel: 'silent' }, conformanceRegistry, {
    adminRoutes: (scope) => registerDeletionRoutes(scope, registry),
    adminOpenApi: DELETION_OPENAPI_PATHS,
  });
  onTestFinished(() => serving.close());
  const doc = (await (await fetch(`${serving.url}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    components: { responses: Record<string, unknown> };
  };
  return { serving, doc, registry };
}

describe('the OpenAPI document of the serving API', () => {
  it('lists every registered route and method, and nothing that is not registered', async () => {
    const { serving, doc } = await serve(TOKEN);
    const registered = new Set(
      registeredRoutes(serving.app)
        .filter((r) => r.method !== 'HEAD')
        .map((r) => `${r.method.toLowerCase()} ${openApiPath(r.url)}`),
    );
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`)));
    expect(registered.has('post /admin/v1/deletions')).toBe(true);
    expect([...registered].filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((d) => !registered.has(d))).toEqual([]);
    for (const ref of JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/responses\/([A-Za-z]+)"/g)) expect(doc.components.responses[ref[1] as string]).toBeDefined();
  });

  it('documents the admin deletion answers the service gives: 202, 200, 400, 401, 404, 409', async () => {
    const { serving, doc } = await serve(TOKEN);
    const post = doc.paths['/admin/v1/deletions']?.post?.responses ?? {};
    const get = doc.paths['/admin/v1/deletions/{requestId}']?.get?.responses ?? {};
    expect(Object.keys(post)).toEqual(expect.arrayContaining(['200', '202', '400', '401', '409']));
    expect(Object.keys(get)).toEqual(expect.arrayContaining(['200', '400', '401', '404']));
    const call = (method: string, path: string, body?: unknown, token = TOKEN) =>
      fetch(`${serving.url}/admin${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
    const statuses = [
      (await call('POST', '/v1/deletions', { request_id: 'r-1', user_id: 'u1' })).status,
      (await call('POST', '/v1/deletions', { request_id: 'r-1', user_id: 'u1' })).status,
      (await call('POST', '/v1/deletions', { request_id: 'r-1', user_id: 'u2' })).status,
      (await call('POST', '/v1/deletions', { request_id: 'r 2', user_id: 'u1' })).status,
      (await call('POST', '/v1/deletions', { request_id: 'r-3', user_id: 'u1' }, 'wrong')).status,
      (await call('GET', '/v1/deletions/unknown')).status,
    ];
    expect(statuses).toEqual([202, 200, 409, 400, 401, 404]);
    for (const [status, responses] of [
      [202, post],
      [200, post],
      [409, post],
      [400, post],
      [401, post],
      [404, get],
    ] as const)
      expect(responses[String(status)], String(status)).toBeDefined();
  });

  it('leaves the admin routes out of the document when no admin token is set (they answer 404)', async () => {
    const { serving, doc } = await serve('');
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/admin'))).toEqual([]);
    expect((await fetch(`${serving.url}/admin/v1/deletions/r-1`)).status).toBe(404);
  });
});
