export * from './compile-feature.ts';
export * from './compile-registry.ts';
export * from './duration.ts';
export * from './feature-definition.ts';
export * from './registry-artifact.ts';
export * from './semantics-version.ts';
