export * from './bootstrap-cut.ts';
export * from './bootstrap-state.ts';
export * from './bootstrap-loader.ts';
export * from './bootstrap-options.ts';
export * from './warehouse-rows.ts';
export * from './feature-rows.ts';
export * from './user-shard.ts';
export * from './bootstrap-progress.ts';
