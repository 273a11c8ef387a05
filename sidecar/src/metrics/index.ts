export * from './pipeline-metrics.ts';
export * from './consumer-progress.ts';
export * from './lake-writer-metrics.ts';
