import type { FeatureRegistry } from '../features/index.ts';
import { FEATURE_STATUSES } from './feature-view.ts';
import { HTTP_ERROR_CODES } from './http-errors.ts';
import { USER_ID_PATTERN } from './user-id.ts';

/**
 * JSON Schemas of the HTTP API. Fastify validates requests with them (ajv) and serializes
 * responses with them; the OpenAPI document embeds the very same objects, so the
 * description cannot drift from what the service enforces.
 */

export const userIdSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 64,
  pattern: USER_ID_PATTERN,
  description: 'Subscriber id: 1-64 characters of A-Z a-z 0-9 _ . -',
  examples: ['u-000123'],
} as const;

export function batchRequestSchema(maxBatch: number) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['user_ids'],
    properties: {
      user_ids: {
        type: 'array',
        minItems: 1,
        maxItems: maxBatch,
        items: userIdSchema,
        description: `1 to ${maxBatch} user ids; answers come back in the same order (duplicates allowed).`,
      },
    },
  } as const;
}

const nullableMs = { type: ['integer', 'null'] } as const;
const nullableIso = { type: ['string', 'null'], format: 'date-time' } as const;

export const featureValueSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['value', 'status', 'latest_event_at', 'latest_event_ms', 'watermark_at', 'staleness_ms', 'freshness_slo_ms'],
  properties: {
    value: { type: ['number', 'string', 'null'], description: 'Value at as_of: 0 for an empty count/sum/count_distinct window, null for an empty min/max/last.' },
    status: { type: 'string', enum: [...FEATURE_STATUSES], description: 'missing: no state for the user; stale: partition watermark older than freshness_slo_ms (or unknown); present otherwise.' },
    latest_event_at: { ...nullableIso, description: 'Event time of the newest event counted in the value; null for an empty window.' },
    latest_event_ms: { ...nullableMs, description: 'latest_event_at in epoch milliseconds.' },
    watermark_at: { ...nullableIso, description: "Watermark of the user's partition for the feature's source: every event ingested before it is counted." },
    staleness_ms: { ...nullableMs, description: 'Now minus watermark_at, in milliseconds.' },
    freshness_slo_ms: { type: 'integer', description: "The feature's freshness SLO (registry freshness_slo)." },
  },
} as const;

export function userFeaturesSchema(registry: FeatureRegistry) {
  const names = registry.features.map((f) => f.name);
  return {
    type: 'object',
    additionalProperties: false,
    required: ['user_id', 'version', 'status', 'as_of', 'as_of_ms', 'features'],
    properties: {
      user_id: userIdSchema,
      version: {
        type: 'string',
        description: 'The registry version that answered: the active one (docs/lifecycle.md). Every value of one answer, and of one batch, comes from this one version.',
        examples: [registry.version],
      },
      status: { type: 'string', enum: [...FEATURE_STATUSES], description: 'missing for unknown users, stale when any feature is stale, else present.' },
      as_of: { type: 'string', format: 'date-time', description: 'Instant the windows were evaluated at (Redis server clock).' },
      as_of_ms: { type: 'integer' },
      features: {
        type: 'object',
        description: `The features of the answering version. Listed: those of registry ${registry.version}, which the service started with; another active version answers with its own features (same shape).`,
        additionalProperties: featureValueSchema,
        properties: Object.fromEntries(names.map((name) => [name, featureValueSchema])),
      },
    },
  } as const;
}

export function batchResponseSchema(registry: FeatureRegistry) {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['results'],
    properties: { results: { type: 'array', items: userFeaturesSchema(registry) } },
  } as const;
}

/** Every `error` code of the API: the HTTP layer's (http-errors.ts) and the read path's 503s. */
export const ERROR_CODES = [...HTTP_ERROR_CODES, 'store_unavailable', 'registry_mismatch'] as const;

export const errorSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', enum: ERROR_CODES, description: 'A stable code (the list is closed).' },
    message: { type: 'string', description: 'What was wrong; a validation message names the field and the rule. Never quotes the request.' },
  },
} as const;

const checkSchema = {
  type: 'object',
  required: ['ok', 'detail'],
  properties: { ok: { type: 'boolean' }, detail: { type: 'string' } },
} as const;

export const readinessSchema = {
  type: 'object',
  required: ['ready', 'checks', 'reasons'],
  properties: {
    ready: { type: 'boolean' },
    checks: {
      type: 'object',
      required: ['redis', 'registry', 'watermarks'],
      properties: { redis: checkSchema, registry: checkSchema, watermarks: checkSchema },
    },
    reasons: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const healthSchema = {
  type: 'object',
  required: ['status'],
  properties: { status: { type: 'string', enum: ['ok'] } },
} as const;
