export * from './probe-plan.ts';
export * from './canary-metrics.ts';
export * from './probe-readers.ts';
export * from './canary.ts';
export * from './canary-options.ts';
