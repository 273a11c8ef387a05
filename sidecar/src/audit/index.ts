export * from './offline-explanation.ts';
export * from './explain-options.ts';
