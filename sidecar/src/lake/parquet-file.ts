import { mkdirSync, renameSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { LAKE_COLUMNS, type LakeRow } from './lake-row.ts';

/** A column of a lake file: name and DuckDB type. */
export type ParquetColumn<Row> = readonly [keyof Row & string, 'VARCHAR' | 'BIGINT' | 'INTEGER'];

async function appendRows<Row>(connection: DuckDBConnection, table: string, columns: ReadonlyArray<ParquetColumn<Row>>, rows: readonly Row[]): Promise<void> {
  await connection.run(`create or replace table ${table} (${columns.map(([name, type]) => `${name} ${type}`).join(', ')})`);
  const appender = await connection.createAppender(table);
  for (const row of rows) {
    for (const [name, type] of columns) {
      const value = row[name] as unknown;
      if (value === null || value === undefined) appender.appendNull();
      else if (type === 'BIGINT') appender.appendBigInt(value as bigint);
      else if (type === 'INTEGER') appender.appendInteger(value as number);
      else appender.appendVarchar(value as string);
    }
    appender.endRow();
  }
  appender.closeSync();
}

function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * Encodes rows as Parquet bytes with one in-memory DuckDB held for the encoder's life
 * (creating a DuckDB per file costs more than writing a small file). Not re-entrant: the
 * caller serializes calls.
 */
export class ParquetEncoder {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly scratch: string,
  ) {}

  private sequence = 0;

  static async create(): Promise<ParquetEncoder> {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const scratch = await mkdtemp(join(tmpdir(), 'churnfeat-parquet-'));
    return new ParquetEncoder(instance, connection, scratch);
  }

  /** The rows, in the given order, as a zstd-compressed Parquet file. */
  async encode<Row>(columns: ReadonlyArray<ParquetColumn<Row>>, rows: readonly Row[]): Promise<Buffer> {
    await appendRows(this.connection, 'rows_to_encode', columns, rows);
    const path = join(this.scratch, `${(this.sequence += 1)}.parquet`);
    await this.connection.run(`copy rows_to_encode to ${sqlString(path)} (format parquet, compression zstd)`);
    try {
      return await readFile(path);
    } finally {
      await rm(path, { force: true });
    }
  }

  /** The rows of a Parquet file, in file order (BIGINT as bigint, INTEGER as number, VARCHAR as string, NULL as null). */
  async decode<Row>(bytes: Uint8Array): Promise<Row[]> {
    const path = join(this.scratch, `${(this.sequence += 1)}-in.parquet`);
    await writeFile(path, bytes);
    try {
      const result = await this.connection.runAndReadAll(`select * from read_parquet(${sqlString(path)})`);
      return result.getRowObjects() as unknown as Row[];
    } finally {
      await rm(path, { force: true });
    }
  }

  async close(): Promise<void> {
    this.connection.closeSync();
    this.instance.closeSync();
    await rm(this.scratch, { recursive: true, force: true });
  }
}

/**
 * Writes rows to one Parquet file with DuckDB's appender, through a temporary name and a
 * rename, so a reader never sees a half-written file.
 */
export async function writeLakeParquet(path: string, rows: readonly LakeRow[]): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await appendRows(connection, 'rows', LAKE_COLUMNS as ReadonlyArray<ParquetColumn<LakeRow>>, rows);
    const temporary = `${path}.tmp-${process.pid}`;
    await connection.run(`copy rows to ${sqlString(temporary)} (format parquet)`);
    renameSync(temporary, path);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
