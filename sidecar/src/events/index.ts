export { canonicalJson, eventKeyOf, type EventKeyInput } from './event-key.ts';
export {
  compileEventContracts,
  compileEventSchema,
  DEFAULT_CONTRACTS_DIR,
  loadEventContracts,
  readVersionManifest,
  schemaEventTypes,
  type CompiledVersion,
  type EventContracts,
  type ListedVersion,
} from './contract-set.ts';
export type { NormalizedEvent } from './normalized-event.ts';
export { DEFAULT_PARSE_LIMITS, parseEvent, type ParseLimits, type ParseResult } from './parse-event.ts';
export { INVALID_REASONS, isInvalidReason, type InvalidReason } from './reason-codes.ts';
export { ENVELOPE_SCHEMA, SOURCE_SCHEMAS } from './schemas.ts';
export { EVENT_TYPES, isKnownEventType, isSource, SOURCES, type Source } from './sources.ts';
export { parseRfc3339Ms } from './timestamp.ts';
