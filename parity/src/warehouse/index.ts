export * from './duckdb-warehouse.ts';
export * from './snowflake-warehouse.ts';
export * from './warehouse.ts';
