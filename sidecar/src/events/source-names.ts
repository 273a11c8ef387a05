/** The source topics the sidecar consumes; one JSON Schema each in `contracts/events/`. */
export const SOURCES = ['client', 'billing', 'support'] as const;

/** A source topic name. */
export type Source = (typeof SOURCES)[number];

/** Type guard for a string naming one of {@link SOURCES}. */
export function isSource(value: unknown): value is Source {
  return typeof value === 'string' && (SOURCES as readonly string[]).includes(value);
}
