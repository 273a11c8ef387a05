import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers/consumers.ts';
import { duckQuery, runDbt } from '../../helpers/dbt.ts';

const DAY = 86_400_000;
const START = Date.parse('2026-01-05T00:00:00Z');

/** Writes `perDay(day)` client playback_start events per day for `days` days into a lake folder, one file per day (its hour folder is nominal). */
async function writeLake(lake: string, days: number, perDay: (day: number) => number, canaryPerDay = 0): Promise<void> {
  for (let day = 0; day < days; day += 1) {
    const date = new Date(START + day * DAY).toISOString().slice(0, 10);
    const folder = join(lake, 'events', 'source=client', `date=${date}`, 'hour=12');
    mkdirSync(folder, { recursive: true });
    const n = perDay(day);
    const at = START + day * DAY;
    // Spread over the day, as real traffic is (the freshness check looks at the last hours).
    const rows = (count: number, user: string) =>
      `select 'client' as source, 't.client.events' as kafka_topic, cast(0 as integer) as kafka_partition, cast(${day * 100_000} + i as bigint) as kafka_offset, cast(${at} + i * ${Math.floor(DAY / Math.max(count, 1))} as bigint) as kafka_ts_ms,
        '${user}-' || ${day} || '-' || i as event_key, '${user}-' || ${day} || '-' || i as event_id, ${user === 'canary' ? `'__canary__-client-0'` : `'u-' || (i % 50)`} as user_id, 'd' as device_id,
        'playback_start' as event_type, '' as event_ts, '' as ingest_ts, cast(${at} + i * ${Math.floor(DAY / Math.max(count, 1))} as bigint) as event_ms, cast(${at} + i * ${Math.floor(DAY / Math.max(count, 1))} as bigint) as ingest_ms, '{"content_id":"t"}' as attributes
       from range(${count}) t(i)`;
    const union = canaryPerDay > 0 ? `${rows(n, 'e')} union all ${rows(canaryPerDay, 'canary')}` : rows(n, 'e');
    await duckQuery(`copy (${union}) to '${join(folder, 'part.parquet')}' (format parquet)`);
  }
}

async function dataQuality(lake: string, asOf: string): Promise<{ passed: boolean; output: string }> {
  const dir = tempDir('dbt-dq-');
  const env = { duckdbPath: join(dir, 'w.duckdb'), lakeRoot: lake };
  await runDbt(['run', '--select', '+stg_lake__events'], env);
  try {
    return { passed: true, output: await runDbt(['test', '--select', 'tag:data_quality'], env, { as_of: asOf }) };
  } catch (error) {
    return { passed: false, output: (error as Error).message };
  }
}

describe('offline data-quality tests (dbt, tag data_quality)', () => {
  it('pass on a normal day, fail when the checked day drops to 30% of the same weekday, and fail when nothing arrived in the 6 hours before as_of', async () => {
    const normal = tempDir('lake-normal-');
    await writeLake(normal, 29, () => 400, 30);
    const asOf = new Date(START + 29 * DAY).toISOString();
    const ok = await dataQuality(normal, asOf);
    expect(ok.passed, ok.output.slice(-3000)).toBe(true);

    const dropped = tempDir('lake-drop-');
    await writeLake(dropped, 29, (day) => (day === 28 ? 120 : 400));
    const drop = await dataQuality(dropped, asOf);
    expect(drop.passed).toBe(false);
    expect(drop.output).toContain('stg_lake__events_daily_volume_per_event_type');
    expect(drop.output).not.toContain('FAIL 1 stg_lake__events_fresh_at_as_of');

    // as_of a day later: the volume check judges a day with nothing (a drop), and the lake is stale.
    const stale = await dataQuality(normal, new Date(START + 30 * DAY).toISOString());
    expect(stale.passed).toBe(false);
    expect(stale.output).toContain('stg_lake__events_fresh_at_as_of');
  });

  it('keep the canary out of staging: its rows never reach stg_lake__events', async () => {
    const lake = tempDir('lake-canary-');
    await writeLake(lake, 1, () => 10, 5);
    const dir = tempDir('dbt-canary-');
    await runDbt(['run', '--select', '+stg_lake__events'], { duckdbPath: join(dir, 'w.duckdb'), lakeRoot: lake });
    const rows = await duckQuery(
      `attach '${join(dir, 'w.duckdb')}' as w (read_only); select count(*) as n, count(*) filter (where user_id like '\\_\\_canary%' escape '\\') as canary from w.main.stg_lake__events`,
    );
    expect(rows[0]).toEqual({ n: 10n, canary: 0n });
  });
});
