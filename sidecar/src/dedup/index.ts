export * from './dedup-index.ts';
export * from './dedup-changelog.ts';
export * from './local-dedup.ts';
