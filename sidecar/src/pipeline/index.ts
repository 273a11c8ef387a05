export * from './batch-processor.ts';
export * from './sidecar.ts';
