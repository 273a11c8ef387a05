export * from './option-table.ts';
export * from './options.ts';
