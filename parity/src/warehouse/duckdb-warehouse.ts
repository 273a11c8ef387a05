import { DuckDBInstance, DuckDBTimestampValue, type DuckDBConnection } from '@duckdb/node-api';
import { normalizeInteger, sqlString, type SqlRow, type SqlValue, type Warehouse } from './warehouse.ts';

export interface DuckDbWarehouseOptions {
  /** The DuckDB database file dbt builds (opened read-only). */
  path: string;
  /**
   * Folder that relative file paths in views resolve against. dbt runs from its project
   * folder, so a view over `../.cache/lake/...` only resolves from there.
   */
  fileSearchPath?: string;
}

function normalize(value: unknown): SqlValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return normalizeInteger(value);
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  if (value instanceof DuckDBTimestampValue) return Number(value.micros / 1000n);
  return String(value);
}

/** The local warehouse: the DuckDB file dbt-duckdb builds, through @duckdb/node-api. */
export class DuckDbWarehouse implements Warehouse {
  readonly dialect = 'duckdb' as const;

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
  ) {}

  static async open(options: DuckDbWarehouseOptions): Promise<DuckDbWarehouse> {
    let instance: DuckDBInstance;
    try {
      instance = await DuckDBInstance.create(options.path, { access_mode: 'READ_ONLY' });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (/version number \d+/.test(message)) {
        throw new Error(
          `${options.path} was written by a newer DuckDB than @duckdb/node-api reads (${message.split('\n')[0]}). ` +
            'Have dbt-duckdb write a readable format: config_options: {storage_compatibility_version: v1.5.0} in the duckdb profile, then rebuild the file.',
          { cause: error },
        );
      }
      throw error;
    }
    const connection = await instance.connect();
    if (options.fileSearchPath) await connection.run(`set file_search_path = ${sqlString(options.fileSearchPath)}`);
    return new DuckDbWarehouse(instance, connection);
  }

  async query(sql: string): Promise<SqlRow[]> {
    const reader = await this.connection.runAndReadAll(sql);
    const names = reader.columnNames().map((name) => name.toLowerCase());
    return reader.getRows().map((values) => {
      const row: SqlRow = {};
      values.forEach((value, index) => {
        row[names[index] as string] = normalize(value);
      });
      return row;
    });
  }

  async close(): Promise<void> {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
