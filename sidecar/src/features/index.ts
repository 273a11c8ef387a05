export * from './duration.ts';
export * from './feature-definition.ts';
export * from './load-definitions.ts';
