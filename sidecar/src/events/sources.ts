import { SOURCE_SCHEMAS } from './schemas.ts';
import type { Source } from './source-names.ts';

// The names live in source-names.ts, which schemas.ts needs too (no import cycle).
export { isSource, SOURCES, type Source } from './source-names.ts';

/**
 * The `event_type` enum a source schema declares: the `enum` of `properties.event_type` in
 * one of its `allOf` branches. Read at module load so the schemas stay the only list; a
 * schema without exactly one such enum is a broken contract and fails start-up.
 */
function eventTypesOf(source: Source): readonly string[] {
  const branches: unknown = SOURCE_SCHEMAS[source]['allOf'];
  const found: string[][] = [];
  if (Array.isArray(branches)) {
    for (const branch of branches) {
      const values: unknown = (branch as { properties?: { event_type?: { enum?: unknown } } })?.properties?.event_type?.enum;
      if (Array.isArray(values) && values.every((v) => typeof v === 'string')) {
        found.push(values as string[]);
      }
    }
  }
  const [types, ...rest] = found;
  if (types === undefined || rest.length > 0 || types.length === 0) {
    throw new Error(`contracts/events/${source}.schema.json must declare exactly one non-empty event_type enum`);
  }
  return Object.freeze([...types]);
}

/** The event types each source accepts, in schema order (read from `contracts/events/`). */
export const EVENT_TYPES: Readonly<Record<Source, readonly string[]>> = Object.freeze({
  client: eventTypesOf('client'),
  billing: eventTypesOf('billing'),
  support: eventTypesOf('support'),
});

const EVENT_TYPE_SETS: Readonly<Record<Source, ReadonlySet<string>>> = {
  client: new Set(EVENT_TYPES.client),
  billing: new Set(EVENT_TYPES.billing),
  support: new Set(EVENT_TYPES.support),
};

/** Whether `eventType` is one of the event types of `source`. */
export function isKnownEventType(source: Source, eventType: string): boolean {
  return EVENT_TYPE_SETS[source].has(eventType);
}
