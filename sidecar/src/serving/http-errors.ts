import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Every error the serving HTTP API answers: the status, its stable code and a fixed message.
 * No message repeats anything of the request (a URL, a header, a byte of the body): a
 * validation message names the field and the rule only (http-server.ts), every other
 * message is the text below. The OpenAPI document lists each of them (openapi.ts).
 */

/** Longest URL (path and query) accepted; a longer one answers 414. */
export const MAX_URL_BYTES = 8_192;
/** Largest request body accepted; a larger one answers 413. */
export const MAX_BODY_BYTES = 256 * 1024;
/** Largest request head (request line and headers) Node accepts: its default `maxHeaderSize`; more answers 431 (or 414 when the request line alone is that long). */
export const MAX_HEADER_BYTES = 16_384;

/** The closed list of error answers: status, code and message. */
export const HTTP_ERRORS = {
  bad_request: { status: 400, message: 'the request is invalid' },
  bad_url: { status: 400, message: 'the URL is not valid percent-encoding' },
  bad_json: { status: 400, message: 'the body is not valid JSON' },
  empty_json: { status: 400, message: 'the body is empty' },
  bad_content_length: { status: 400, message: 'the body does not match its content-length' },
  bad_http: { status: 400, message: 'the request is not valid HTTP/1.1' },
  unauthorized: { status: 401, message: 'this endpoint needs a valid admin token (authorization: Bearer <token>)' },
  not_found: { status: 404, message: 'no route has this path' },
  method_not_allowed: { status: 405, message: 'this path does not answer this method; the allow header lists those it does' },
  request_timeout: { status: 408, message: 'the request did not arrive in time' },
  payload_too_large: { status: 413, message: `the body is larger than ${MAX_BODY_BYTES} bytes` },
  uri_too_long: { status: 414, message: `the URL is longer than ${MAX_URL_BYTES} bytes` },
  unsupported_media_type: { status: 415, message: 'the body must be application/json' },
  headers_too_large: { status: 431, message: `the request head is larger than ${MAX_HEADER_BYTES} bytes` },
  internal: { status: 500, message: 'internal error' },
} as const;

export type HttpErrorKind = keyof typeof HTTP_ERRORS;

/** The `error` code of an answer: the kind, except the 400 variants, which are all bad_request. */
export function errorCode(kind: HttpErrorKind): string {
  return HTTP_ERRORS[kind].status === 400 ? 'bad_request' : kind;
}

/** Every `error` code the API answers with (the 503 codes come from serving-error.ts via http-server.ts). */
export const HTTP_ERROR_CODES: readonly string[] = [...new Set((Object.keys(HTTP_ERRORS) as HttpErrorKind[]).map(errorCode))];

/** The `{error, message}` body of an error kind. */
export function errorBody(kind: HttpErrorKind): { error: string; message: string } {
  return { error: errorCode(kind), message: HTTP_ERRORS[kind].message };
}

/** Fastify's own error codes (content-type parsing, routing) and what they answer. */
const FASTIFY_ERROR_KIND: Readonly<Record<string, HttpErrorKind>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_content_length',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'empty_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'bad_json',
  FST_ERR_BAD_URL: 'bad_url',
  FST_ERR_MAX_PARAM_LENGTH: 'uri_too_long',
};

/**
 * The answer to an error that is neither a validation failure nor a ServingError: fastify's
 * own (by code), a JSON syntax error of the body, else by status class. Its message is never
 * the error's, which may quote the request (`Unexpected token ... "<body>" is not valid JSON`).
 */
export function kindOfError(error: { code?: string; statusCode?: number; name?: string }): HttpErrorKind {
  const known = error.code === undefined ? undefined : FASTIFY_ERROR_KIND[error.code];
  if (known) return known;
  if (error.name === 'SyntaxError' && error.statusCode === 400) return 'bad_json';
  const status = error.statusCode ?? 500;
  if (status === 413) return 'payload_too_large';
  if (status === 415) return 'unsupported_media_type';
  if (status >= 400 && status < 500) return 'bad_request';
  return 'internal';
}

/** A whole HTTP/1.1 error answer, for the socket-level handler (no fastify reply exists yet). */
export function rawErrorResponse(kind: HttpErrorKind): string {
  const { status } = HTTP_ERRORS[kind];
  const body = JSON.stringify(errorBody(kind));
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** Is this the start of a request whose request line alone overflows the head limit (no line end within it)? */
function requestLineTooLong(rawPacket: unknown): boolean {
  if (!Buffer.isBuffer(rawPacket)) return false;
  if (!/^[A-Z]+ /.test(rawPacket.subarray(0, 16).toString('latin1'))) return false;
  const lineEnd = rawPacket.indexOf('\n');
  return lineEnd === -1 ? rawPacket.length >= MAX_URL_BYTES : lineEnd > MAX_URL_BYTES;
}

/**
 * Node's HTTP parser refuses some requests before fastify sees them (a head over
 * `maxHeaderSize`, bytes that are not HTTP, a request that does not arrive in time) and
 * emits 'clientError' on the server; this answers them in the API's shape. An overflowing
 * head whose request line alone is over {@link MAX_URL_BYTES} is a 414, any other a 431.
 */
export function clientErrorHandler(error: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  let kind: HttpErrorKind = 'bad_http';
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') kind = 'request_timeout';
  else if (error.code === 'HPE_HEADER_OVERFLOW') kind = requestLineTooLong(error.rawPacket) ? 'uri_too_long' : 'headers_too_large';
  else if (error.code === 'HPE_URI_TOO_LONG') kind = 'uri_too_long';
  if (socket.writable) socket.end(rawErrorResponse(kind));
  else socket.destroy();
}
