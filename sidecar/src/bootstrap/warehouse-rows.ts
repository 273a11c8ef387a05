/**
 * The bootstrap's reads of the local warehouse (the DuckDB file dbt builds): the users and the
 * int_feature_events rows of the records that reach the apply function, below the cut.
 * Snowflake would answer the same SQL (plain joins over VALUES lists, no DuckDB-only function).
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { parseRfc3339Ms, type Source } from '../events/index.ts';
import type { CompiledFeature } from '../features/index.ts';
import type { CutPartition } from './bootstrap-cut.ts';
import type { FeatureRow } from './bootstrap-state.ts';

const quote = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/** The filter of the rows that reach the apply function online, below the cut (see bootstrap-state.ts). */
function scopeSql(table: string, cut: readonly CutPartition[], features: readonly CompiledFeature[], allowedLatenessMs: number): string {
  const cuts = cut.length > 0 ? cut.map((c) => `(${quote(c.topic)}, ${c.partition}, ${c.offset})`).join(', ') : `('', -1, 0)`;
  const feats = features.map((f) => `(${quote(f.name)}, ${f.granularityMs}, ${f.windowMs / f.granularityMs})`).join(', ');
  return `from ${table} as f
    inner join (values ${cuts}) as cut (topic, part, cut_offset) on f.kafka_topic = cut.topic and f.kafka_partition = cut.part
    inner join (values ${feats}) as feat (name, granularity_ms, window_tiles) on f.feature_name = feat.name
    where f.kafka_offset < cut.cut_offset
      and f.ingest_ms - f.event_ms <= ${allowedLatenessMs}
      and floor(f.event_ms / feat.granularity_ms) >= floor(f.ingest_ms / feat.granularity_ms) - feat.window_tiles`;
}

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toRow(r: unknown[]): FeatureRow {
  const eventMs = Number(r[7]);
  const ingestMs = Number(r[8]);
  return {
    userId: String(r[0]),
    featureName: String(r[1]),
    source: String(r[2]) as Source,
    topic: String(r[3]),
    partition: Number(r[4]),
    offset: Number(r[5]),
    eventKey: String(r[6]),
    eventMs,
    ingestMs,
    // the store's dedupTimeMs: event_ts as sent where event_ms was clamped to ingest_ms
    dedupMs: eventMs < ingestMs ? eventMs : parseRfc3339Ms(String(r[13])),
    tileStartMs: Number(r[9]),
    fixedValue: num(r[10]),
    numValue: num(r[11]),
    strValue: r[12] === null ? null : String(r[12]),
  };
}

/** A read-only connection to the warehouse file and the queries of one bootstrap. */
export class BootstrapWarehouse {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly scope: string,
  ) {}

  static async open(path: string, table: string, cut: readonly CutPartition[], features: readonly CompiledFeature[], allowedLatenessMs: number): Promise<BootstrapWarehouse> {
    const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
    const connection = await instance.connect();
    return new BootstrapWarehouse(instance, connection, scopeSql(table, cut, features, allowedLatenessMs));
  }

  private async rows(sql: string): Promise<unknown[][]> {
    return (await this.connection.runAndReadAll(sql)).getRows() as unknown[][];
  }

  /** Users with records below the cut. */
  async countUsers(): Promise<number> {
    const [row] = await this.rows(`select count(distinct f.user_id) ${this.scope}`);
    return Number(row?.[0] ?? 0);
  }

  /**
   * The rows of the users after `after` ('' from the first), in user_id order and, per user,
   * in apply order, as batches of `batchUsers` whole users: one ordered scan streamed chunk
   * by chunk, so a batch costs no query of its own and memory holds one batch.
   */
  async *userBatches(after: string, batchUsers: number): AsyncGenerator<{ users: string[]; rows: FeatureRow[] }> {
    const result = await this.connection.stream(
      `select f.user_id, f.feature_name, f.source, f.kafka_topic, f.kafka_partition, f.kafka_offset, f.event_key, f.event_ms, f.ingest_ms, f.tile_start_ms, f.fixed_value, f.num_value, f.str_value, f.event_ts_raw
       ${this.scope} and f.user_id > ${quote(after)}
       order by f.user_id, f.source, f.kafka_partition, f.kafka_offset`,
    );
    let users: string[] = [];
    let rows: FeatureRow[] = [];
    for await (const chunk of result.yieldRows()) {
      for (const r of chunk) {
        const row = toRow(r);
        if (users[users.length - 1] !== row.userId) {
          // the previous user is whole: a batch is full once it has batchUsers whole users
          if (users.length === batchUsers) {
            yield { users, rows };
            users = [];
            rows = [];
          }
          users.push(row.userId);
        }
        rows.push(row);
      }
    }
    if (users.length > 0) yield { users, rows };
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
