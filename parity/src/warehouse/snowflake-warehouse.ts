import snowflake from 'snowflake-sdk';
import { normalizeInteger, type SqlRow, type SqlValue, type Warehouse } from './warehouse.ts';

/** Connection settings of the Snowflake warehouse (credentials come from the caller's environment). */
export interface SnowflakeWarehouseOptions {
  account: string;
  username: string;
  password?: string;
  /** e.g. SNOWFLAKE_JWT with `privateKey`; default: password authentication. */
  authenticator?: string;
  privateKey?: string;
  database: string;
  schema: string;
  warehouse?: string;
  role?: string;
  /** Full URL of the service (a local emulator); default: the account's URL. */
  accessUrl?: string;
}

function normalize(value: unknown): SqlValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return normalizeInteger(value);
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  if (value instanceof Date) return value.getTime();
  return String(value);
}

/**
 * Snowflake through snowflake-sdk. Integers arrive as bigint (no silent precision loss)
 * and leave as numbers when they fit; unquoted identifiers come back upper case and are
 * lower-cased, so rows look the same as DuckDB's.
 */
export class SnowflakeWarehouse implements Warehouse {
  readonly dialect = 'snowflake' as const;

  private constructor(private readonly connection: snowflake.Connection) {}

  static async open(options: SnowflakeWarehouseOptions): Promise<SnowflakeWarehouse> {
    // The driver's own log would go to ./snowflake.log; its errors reach us through callbacks.
    snowflake.configure({ logLevel: 'OFF', logFilePath: 'STDOUT', additionalLogToConsole: false });
    const config: snowflake.ConnectionOptions = {
      account: options.account,
      username: options.username,
      database: options.database,
      schema: options.schema,
      jsTreatIntegerAsBigInt: true,
      rowMode: 'array',
    };
    if (options.password !== undefined) config.password = options.password;
    if (options.authenticator !== undefined) config.authenticator = options.authenticator;
    if (options.privateKey !== undefined) config.privateKey = options.privateKey;
    if (options.warehouse !== undefined) config.warehouse = options.warehouse;
    if (options.role !== undefined) config.role = options.role;
    if (options.accessUrl !== undefined) config.accessUrl = options.accessUrl;
    const connection = snowflake.createConnection(config);
    await new Promise<void>((resolve, reject) => connection.connect((error) => (error ? reject(error) : resolve())));
    return new SnowflakeWarehouse(connection);
  }

  query(sql: string): Promise<SqlRow[]> {
    return new Promise((resolve, reject) => {
      this.connection.execute({
        sqlText: sql,
        complete: (error, statement, rows) => {
          if (error) {
            reject(error);
            return;
          }
          const names = (statement.getColumns() ?? []).map((column) => column.getName().toLowerCase());
          resolve(
            ((rows ?? []) as unknown[][]).map((values) => {
              const row: SqlRow = {};
              values.forEach((value, index) => {
                row[names[index] ?? `column${index + 1}`] = normalize(value);
              });
              return row;
            }),
          );
        },
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.connection.destroy(() => resolve()));
  }
}
