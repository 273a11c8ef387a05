export * from './kafka-client.ts';
export * from './option-table.ts';
export * from './options.ts';
export * from './redact.ts';
export * from './redis-client.ts';
