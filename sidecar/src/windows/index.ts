export * from './tiles.ts';
export * from './feature-input.ts';
export * from './semantics-spec.ts';
export * from './event-ops.ts';
