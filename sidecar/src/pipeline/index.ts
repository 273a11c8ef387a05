export * from './batch-processor.ts';
export * from './sidecar.ts';
export * from './replica-wait.ts';
