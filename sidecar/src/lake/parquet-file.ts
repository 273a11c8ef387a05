import { mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { LAKE_COLUMNS, type LakeRow } from './lake-row.ts';

/**
 * Writes rows to one Parquet file with DuckDB's appender, through a temporary name and a
 * rename, so a reader never sees a half-written file.
 */
export async function writeLakeParquet(path: string, rows: readonly LakeRow[]): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(`create table rows (${LAKE_COLUMNS.map(([name, type]) => `${name} ${type}`).join(', ')})`);
    const appender = await connection.createAppender('rows');
    for (const row of rows) {
      for (const [name, type] of LAKE_COLUMNS) {
        const value = row[name];
        if (value === null) appender.appendNull();
        else if (type === 'BIGINT') appender.appendBigInt(value as bigint);
        else if (type === 'INTEGER') appender.appendInteger(value as number);
        else appender.appendVarchar(value as string);
      }
      appender.endRow();
    }
    appender.closeSync();
    const temporary = `${path}.tmp-${process.pid}`;
    await connection.run(`copy rows to '${temporary.replaceAll("'", "''")}' (format parquet)`);
    renameSync(temporary, path);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
