export * from './pipeline-metrics.ts';
export * from './consumer-progress.ts';
