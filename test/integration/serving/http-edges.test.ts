/**
 * The serving API's edges on a real listening server, with raw sockets (node:net) where a
 * client library would refuse to send the request: every error answers `{error, message}`
 * without quoting the request, is listed in the OpenAPI document, and an undeclared method
 * of a declared path answers 405 with `allow`.
 */
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { startServingService, type ServingService } from '../../../sidecar/src/serving/index.ts';
import { deleteRedisKeys } from '../../helpers/redis.ts';
import { REDIS_URL } from '../../helpers/stack.ts';

const registry = loadFeatureRegistry('dbt_project');
/** Put into every bad request: no answer may contain it. */
const MARKER = `echo${randomBytes(4).toString('hex')}`;

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `request` as it is to the server and reads the whole answer (the server closes, or one answer with content-length arrives). */
function rawHttp(service: ServingService, request: string | Buffer): Promise<RawAnswer> {
  const { hostname, port } = new URL(service.url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split === -1) return;
      const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      const body = text.slice(split + 4);
      if (headers['content-length'] !== undefined && Buffer.byteLength(body) < Number(headers['content-length'])) return;
      settled = true;
      socket.destroy();
      resolve({ status: Number(statusLine?.split(' ')[1]), headers, body });
    };
    socket.setTimeout(10_000, () => {
      socket.destroy();
      if (!settled) reject(new Error('no answer within 10 s'));
    });
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      finish();
    });
    // The server may close while we are still writing a request it refused: what it answered counts.
    socket.on('error', () => finish());
    socket.on('close', () => {
      finish();
      if (!settled) reject(new Error(`connection closed without a whole answer: ${JSON.stringify(Buffer.concat(chunks).toString('utf8').slice(0, 200))}`));
    });
    socket.write(request);
  });
}

function get(path: string, extraHeaders = ''): string {
  return `GET ${path} HTTP/1.1\r\nhost: localhost\r\n${extraHeaders}connection: close\r\n\r\n`;
}

function post(path: string, contentType: string | null, body: string): string {
  const type = contentType === null ? '' : `content-type: ${contentType}\r\n`;
  return `POST ${path} HTTP/1.1\r\nhost: localhost\r\n${type}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

async function serve(): Promise<ServingService> {
  const prefix = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const service = await startServingService({ redisUrl: REDIS_URL, keyPrefix: prefix, port: 0, logLevel: 'silent', maxBatch: 3 }, registry);
  onTestFinished(async () => {
    await service.close();
    await deleteRedisKeys(REDIS_URL, prefix);
  });
  return service;
}

/** Every status the OpenAPI document lists, in an operation or among the shared responses. */
async function documentedStatuses(service: ServingService): Promise<Set<string>> {
  const doc = (await (await fetch(`${service.url}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    components: { responses: Record<string, { 'x-status': number }> };
  };
  const statuses = new Set<string>();
  for (const operations of Object.values(doc.paths)) for (const operation of Object.values(operations)) for (const status of Object.keys(operation.responses)) statuses.add(status);
  for (const response of Object.values(doc.components.responses)) statuses.add(String(response['x-status']));
  return statuses;
}

describe('the serving API on a listening server: errors of the framework and of Node', () => {
  const cases: Array<[what: string, request: () => string, status: number, error: string]> = [
    ['a header over the head limit (Node: 431)', () => get('/healthz', `x-big: ${MARKER}${'h'.repeat(20_000)}\r\n`), 431, 'headers_too_large'],
    ['a request line over the head limit (Node: 414, not 431)', () => get(`/v1/features/${MARKER}${'a'.repeat(20_000)}`), 414, 'uri_too_long'],
    ['a URL over 8 KiB that Node still accepts (414)', () => get(`/healthz?q=${MARKER}${'a'.repeat(9_000)}`), 414, 'uri_too_long'],
    ['a user id over the router parameter limit (414, not the router quoting it)', () => get(`/v1/features/${MARKER}${'a'.repeat(8_200)}`), 414, 'uri_too_long'],
    ['a body over 256 KiB (413)', () => post('/v1/features:batch', 'application/json', JSON.stringify({ user_ids: [MARKER, 'x'.repeat(300_000)] })), 413, 'payload_too_large'],
    ['a body that is not JSON (415)', () => post('/v1/features:batch', `application/x-${MARKER}`, `<ids>${MARKER}</ids>`), 415, 'unsupported_media_type'],
    ['a text/plain body (415)', () => post('/v1/features:batch', 'text/plain', MARKER), 415, 'unsupported_media_type'],
    ['a body with no content-type (415)', () => post('/v1/features:batch', null, `{"user_ids":["${MARKER}"]}`), 415, 'unsupported_media_type'],
    ['JSON that does not parse (400, not the parser quoting the body)', () => post('/v1/features:batch', 'application/json', `{"user_ids": ["${MARKER}"`), 400, 'bad_request'],
    ['an empty JSON body (400)', () => post('/v1/features:batch', 'application/json', ''), 400, 'bad_request'],
    ['a bad percent-encoding in the path (400, not fastify quoting the URL)', () => get(`/v1/features/${MARKER}%zz`), 400, 'bad_request'],
    ['an unknown route (404, not quoting the path)', () => get(`/v2/${MARKER}`), 404, 'not_found'],
    ['bytes that are not HTTP (400 from Node)', () => `${MARKER} \x01\x02 nonsense\r\n\r\n`, 400, 'bad_request'],
    ['an id of a forbidden character (400 naming the field)', () => get(`/v1/features/${MARKER}%7B`), 400, 'bad_request'],
  ];

  it.each(cases)('answers %s in the {error, message} shape, quoting nothing of the request, and the document lists it', async (_what, request, status, error) => {
    const service = await serve();
    const answer = await rawHttp(service, request());
    expect(answer.status, answer.body).toBe(status);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    const body = JSON.parse(answer.body);
    expect(Object.keys(body).sort()).toEqual(['error', 'message']);
    expect(body.error).toBe(error);
    expect(answer.body.toLowerCase()).not.toContain(MARKER);
    expect(await documentedStatuses(service)).toContain(String(status));
  });

  it.each([
    ['DELETE', '/v1/features/u1', 'GET, HEAD'],
    ['PUT', '/v1/features:batch', 'POST'],
    ['GET', '/v1/features:batch', 'POST'],
    ['POST', '/healthz', 'GET, HEAD'],
    ['PATCH', '/readyz', 'GET, HEAD'],
    ['OPTIONS', '/openapi.json', 'GET, HEAD'],
    ['QUERY', '/readyz', 'GET, HEAD'],
  ])('answers %s %s with 405 and allow: %s', async (method, path, allow) => {
    const service = await serve();
    const answer = await rawHttp(service, `${method} ${path} HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toBe(allow);
    expect(JSON.parse(answer.body)).toEqual({ error: 'method_not_allowed', message: 'this path does not answer this method; the allow header lists those it does' });
    expect(await documentedStatuses(service)).toContain('405');
  });

  it('has no admin surface without a token: /admin answers 404', async () => {
    const service = await serve();
    const answer = await rawHttp(service, post('/admin/users/u1:delete', 'application/json', '{}'));
    expect(answer.status).toBe(404);
  });
});
