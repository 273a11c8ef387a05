export * from './tiles.ts';
export * from './feature-input.ts';
export * from './reference-evaluator.ts';
export * from './event-ops.ts';
