export * from './volume-detector.ts';
export * from './quality-metrics.ts';
export * from './quality-monitor.ts';
export * from './dead-letters.ts';
export * from './contract-versions.ts';
