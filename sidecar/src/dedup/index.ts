export * from './dedup-index.ts';
