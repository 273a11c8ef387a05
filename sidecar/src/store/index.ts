export * from './redis-layout.ts';
export * from './store-protocol.ts';
export * from './store-model.ts';
export * from './function-library.ts';
export * from './feature-writer.ts';
export * from './feature-reader.ts';
export * from './state-explanation.ts';
export * from './state-explainer.ts';
