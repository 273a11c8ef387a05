/** A value as the parity job sees it: integers that fit a double become numbers. */
export type SqlValue = string | number | bigint | boolean | null;

/** One result row; column names are lower case on every engine. */
export type SqlRow = Record<string, SqlValue>;

/**
 * The parity job's only door to a warehouse: DuckDB locally, Snowflake in production.
 * Implementations normalize results (lower-case column names, safe integers as numbers,
 * timestamps as epoch milliseconds) so the callers never branch on the engine.
 */
export interface Warehouse {
  /** 'duckdb' | 'snowflake': which SQL dialect `query` speaks. */
  readonly dialect: 'duckdb' | 'snowflake';
  /** Runs one statement and returns its rows (an empty list for statements without rows). */
  query(sql: string): Promise<SqlRow[]>;
  close(): Promise<void>;
}

/** A bigint as a number when it fits exactly, else unchanged. */
export function normalizeInteger(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** A SQL string literal (standard quoting; both engines accept doubled single quotes). */
export function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
