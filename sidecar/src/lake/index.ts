export * from './lake-row.ts';
export * from './parquet-file.ts';
