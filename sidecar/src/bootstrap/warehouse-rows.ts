/**
 * The bootstrap's reads of the local warehouse (the DuckDB file dbt builds): the users, the
 * int_feature_events rows of the records that reach the apply function below the cut (bounded
 * in event time), and per user and source partition the highest offset and ingest time.
 * Snowflake would answer the same SQL (plain joins over VALUES lists, no DuckDB-only function).
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { Source } from '../events/index.ts';
import type { CompiledFeature } from '../features/index.ts';
import type { CutPartition } from './bootstrap-cut.ts';
import { DEDUP_TILE_S } from '../store/index.ts';
import type { FeatureRow, SourceHead } from './bootstrap-state.ts';
import { ALL_USERS, userShardSql, type UserShard } from './user-shard.ts';

const quote = (text: string): string => `'${text.replace(/'/g, "''")}'`;

/** The filter of the rows that reach the apply function online, below the cut (see bootstrap-state.ts). */
function scopeSql(table: string, cut: readonly CutPartition[], features: readonly CompiledFeature[], allowedLatenessMs: number, shard: UserShard = ALL_USERS): string {
  const cuts = cut.length > 0 ? cut.map((c) => `(${quote(c.topic)}, ${c.partition}, ${c.offset})`).join(', ') : `('', -1, 0)`;
  const feats = features.map((f) => `(${quote(f.name)}, ${f.granularityMs}, ${f.windowMs / f.granularityMs})`).join(', ');
  return `from ${table} as f
    inner join (values ${cuts}) as cut (topic, part, cut_offset) on f.kafka_topic = cut.topic and f.kafka_partition = cut.part
    inner join (values ${feats}) as feat (name, granularity_ms, window_tiles) on f.feature_name = feat.name${shard.count === 1 ? '' : `\n    inner join shard_users as su on f.user_id = su.user_id`}
    where f.kafka_offset < cut.cut_offset${shard.count === 1 ? '' : ` and su.shard = ${shard.index}`}
      and f.ingest_ms - f.event_ms <= ${allowedLatenessMs}
      and floor(f.event_ms / feat.granularity_ms) >= floor(f.ingest_ms / feat.granularity_ms) - feat.window_tiles`;
}

/**
 * The users of the table with their shard, for a sharded load: the shard is computed once per
 * user, not per row (DuckDB's md5 costs about a microsecond a row). Both CTEs are materialized
 * and the shard is compared outside them: a filter on the user id itself would be pushed through
 * the join onto every row of the table.
 */
function shardCtes(table: string, count: number): string[] {
  return [`shard_all_users as materialized (select distinct user_id from ${table})`, `shard_users as materialized (select user_id, ${userShardSql('user_id', count)} as shard from shard_all_users)`];
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
    // the store's dedupTimeMs, carried by int_feature_events (event_ts as sent where event_ms was clamped)
    dedupMs: Number(r[13]),
    tileStartMs: Number(r[9]),
    fixedValue: num(r[10]),
    numValue: num(r[11]),
    strValue: r[12] === null ? null : String(r[12]),
  };
}

/** How far back in event time a load reads rows (see {@link BootstrapWarehouse.open}). */
export interface ReadBound {
  /** The lowest time a read of the loaded state is served at: the newest ingest time below the cut. */
  asOfMs: number;
  /** Dedup entries with an earlier dedup time are never met again by a timely copy: asOf - lateness - margin - one dedup tile. */
  dedupFromMs: number;
}

/** A read-only connection to the warehouse file and the queries of one bootstrap. */
export class BootstrapWarehouse {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    private readonly scope: string,
    /** The CTEs the scope reads (the shard's users), each query's `with` list starts with them. */
    private readonly ctes: readonly string[],
    private readonly features: readonly CompiledFeature[],
    readonly bound: ReadBound | null,
  ) {}

  /**
   * Opens the warehouse for a load below `cut`. With `dedupMarginMs` (the loader's case) the rows
   * read are bounded in event time: only those whose tile a read at or after the cut's time can
   * count, or whose dedup entry a later timely copy can meet, plus the other copies of their
   * events (so the first copy is known); `s:` comes from its own aggregate query. Without it,
   * every row below the cut is read (the reference the unit tests hold the bound to). With
   * `shard`, only that shard's users are read (user-shard.ts).
   */
  static async open(
    path: string,
    table: string,
    cut: readonly CutPartition[],
    features: readonly CompiledFeature[],
    allowedLatenessMs: number,
    dedupMarginMs?: number,
    shard: UserShard = ALL_USERS,
  ): Promise<BootstrapWarehouse> {
    const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
    const connection = await instance.connect();
    const everyUser = scopeSql(table, cut, features, allowedLatenessMs);
    const scope = scopeSql(table, cut, features, allowedLatenessMs, shard);
    const ctes = shard.count === 1 ? [] : shardCtes(table, shard.count);
    let bound: ReadBound | null = null;
    if (dedupMarginMs !== undefined) {
      // over every user, not the shard's: each shard reads with the bound an unsharded load reads with
      const [row] = (await connection.runAndReadAll(`select max(f.ingest_ms) ${everyUser}`)).getRows() as unknown[][];
      const asOfMs = row?.[0] === null || row?.[0] === undefined ? 0 : Number(row[0]);
      bound = { asOfMs, dedupFromMs: asOfMs - allowedLatenessMs - dedupMarginMs - DEDUP_TILE_S * 1000 };
    }
    return new BootstrapWarehouse(instance, connection, scope, ctes, features, bound);
  }

  private async rows(sql: string): Promise<unknown[][]> {
    return (await this.connection.runAndReadAll(sql)).getRows() as unknown[][];
  }

  /** Users with records below the cut. */
  async countUsers(): Promise<number> {
    const [row] = await this.rows(`${this.with()} select count(distinct f.user_id) ${this.scope}`);
    return Number(row?.[0] ?? 0);
  }

  /** The `with` clause of the scope's CTEs and `more` ('' when there are none). */
  private with(...more: string[]): string {
    const all = [...this.ctes, ...more];
    return all.length === 0 ? '' : `with ${all.join(',\n      ')}\n`;
  }

  /** The rows query after user `after`: every row below the cut, or (bounded) the rows a read or a later dedup decision can still see. */
  private rowsSql(after: string): string {
    const columns = 'user_id, feature_name, source, kafka_topic, kafka_partition, kafka_offset, event_key, event_ms, ingest_ms, tile_start_ms, fixed_value, num_value, str_value, dedup_ms';
    const scoped = `select ${columns
      .split(', ')
      .map((c) => `f.${c}`)
      .join(', ')} ${this.scope} and f.user_id > ${quote(after)}`;
    if (this.bound === null) return `${this.with()} ${scoped} order by user_id, source, kafka_partition, kafka_offset`;
    // per feature, the first tile a read at the cut's time counts (WindowOperators.tileBounds)
    const oldest = this.features.map((f) => `(${quote(f.name)}, ${(Math.floor(this.bound!.asOfMs / f.granularityMs) - f.windowMs / f.granularityMs) * f.granularityMs})`).join(', ');
    return `${this.with(
      `scoped as (${scoped})`,
      `picked_keys as (
        select distinct s.user_id, s.source, s.event_key
        from scoped as s
        inner join (values ${oldest}) as b (name, oldest_tile_start_ms) on s.feature_name = b.name
        where s.tile_start_ms >= b.oldest_tile_start_ms
          or s.dedup_ms >= ${this.bound.dedupFromMs}
      )`,
    )}
      select s.* from scoped as s
      inner join picked_keys as k on s.user_id = k.user_id and s.source = k.source and s.event_key = k.event_key
      order by s.user_id, s.source, s.kafka_partition, s.kafka_offset`;
  }

  /**
   * The users after `after` ('' from the first), in user_id order, with their rows (per user in
   * apply order) and, when bounded, their source heads, as batches of `batchUsers` whole users:
   * ordered scans streamed chunk by chunk (the heads on a second connection), so a batch costs no
   * query of its own and memory holds one batch.
   */
  async *userBatches(after: string, batchUsers: number): AsyncGenerator<{ users: string[]; rows: FeatureRow[]; heads: Map<string, SourceHead[]> | null }> {
    const rowChunks = (await this.connection.stream(this.rowsSql(after))).yieldRows();
    const rowIterator = rowChunks[Symbol.asyncIterator]();
    let pending: FeatureRow[] = [];
    let pendingAt = 0;
    let rowsDone = false;
    const nextRow = async (): Promise<FeatureRow | null> => {
      while (pendingAt >= pending.length) {
        if (rowsDone) return null;
        const chunk = await rowIterator.next();
        if (chunk.done === true) {
          rowsDone = true;
          return null;
        }
        pending = (chunk.value as unknown[][]).map(toRow);
        pendingAt = 0;
      }
      return pending[pendingAt] ?? null;
    };
    if (this.bound === null) {
      // users come from the rows themselves
      let users: string[] = [];
      let rows: FeatureRow[] = [];
      for (let row = await nextRow(); row !== null; row = await nextRow()) {
        pendingAt += 1;
        if (users[users.length - 1] !== row.userId) {
          if (users.length === batchUsers) {
            yield { users, rows, heads: null };
            users = [];
            rows = [];
          }
          users.push(row.userId);
        }
        rows.push(row);
      }
      if (users.length > 0) yield { users, rows, heads: null };
      return;
    }
    // bounded: every user below the cut has heads (s:), some have no row left to read
    const headConnection = await this.instance.connect();
    try {
      const heads = await headConnection.stream(
        `${this.with()} select f.user_id, f.source, f.kafka_topic, f.kafka_partition, max(f.kafka_offset), max(f.ingest_ms)
         ${this.scope} and f.user_id > ${quote(after)}
         group by f.user_id, f.source, f.kafka_topic, f.kafka_partition
         order by f.user_id, f.source, f.kafka_partition`,
      );
      let users: string[] = [];
      let rows: FeatureRow[] = [];
      let byUser = new Map<string, SourceHead[]>();
      for await (const chunk of heads.yieldRows()) {
        for (const r of chunk) {
          const head: SourceHead = { userId: String(r[0]), source: String(r[1]) as Source, topic: String(r[2]), partition: Number(r[3]), offset: Number(r[4]), ingestMs: Number(r[5]) };
          if (users[users.length - 1] !== head.userId) {
            if (users.length === batchUsers) {
              yield { users, rows, heads: byUser };
              users = [];
              rows = [];
              byUser = new Map();
            }
            users.push(head.userId);
            for (let row = await nextRow(); row !== null && row.userId <= head.userId; row = await nextRow()) {
              pendingAt += 1;
              rows.push(row);
            }
          }
          byUser.set(head.userId, [...(byUser.get(head.userId) ?? []), head]);
        }
      }
      if (users.length > 0) yield { users, rows, heads: byUser };
    } finally {
      headConnection.closeSync();
    }
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
