/**
 * The Snowflake DDL of the Snowpipe mode of create_lake_stage (docs/deletion.md, "Snowflake"):
 * compiled by dbt (dry run), parsed by sqlglot's Snowflake dialect and executed by fakesnow:
 * the raw table is TRANSIENT with DATA_RETENTION_TIME_IN_DAYS = 1, a retention a transient
 * table cannot take is refused, and the pipe loads hourly lake objects, not compacted buckets.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { compactedObjectKey, lakeObjectKey } from '../../../sidecar/src/lake/index.ts';
import { tempDir } from '../../helpers/consumers.ts';
import { runDbt } from '../../helpers/dbt.ts';

interface DdlReport {
  tables: Array<{ name: string; transient: boolean; retention_days: number | null; executed_by_fakesnow: boolean }>;
  pipes: Array<{ pattern: string | null }>;
}

/** The statements a dry run prints (dbt's own log lines, which start with a time, left out). */
function statements(output: string): string {
  const lines = output.split('\n').filter((line) => !/^\d\d:\d\d:\d\d/.test(line) && !line.startsWith('\u001b'));
  return lines.slice(lines.findIndex((line) => line.startsWith('create '))).join('\n');
}

describe('the Snowpipe raw table DDL', () => {
  it('creates a transient table with 1 day of Time Travel that fakesnow executes, and a pipe that skips compacted buckets', async () => {
    const work = tempDir('churnfeat-snowpipe-ddl-');
    const env = { duckdbPath: join(work, 'w.duckdb'), lakeRoot: join(work, 'lake') };
    const ddl = statements(await runDbt(['run-operation', 'create_lake_stage', '--args', '{mode: snowpipe}'], env));
    const checked = await execa('.venv/tools/bin/python', ['test/helpers/snowflake_ddl.py'], { input: ddl });
    const report = JSON.parse(checked.stdout.trim().split('\n').pop() as string) as DdlReport;
    expect(report.tables).toEqual([{ name: 'CHURNFEAT.lake.events', transient: true, retention_days: 1, executed_by_fakesnow: true }]);

    const pattern = new RegExp(`^${report.pipes[0]?.pattern}$`);
    const hourly = lakeObjectKey({ kind: 'events', source: 'client', date: '2026-11-30', hour: '07', topic: 'churnfeat.client.events', partition: 3, first: 10n, last: 20n });
    const bucket = compactedObjectKey({ kind: 'events', source: 'client', date: '2026-11-30', bucket: 7, buckets: 16_384, generation: 1 });
    expect(pattern.test(`s3://bucket/raw/${hourly}`)).toBe(true);
    expect(pattern.test(`s3://bucket/raw/${bucket}`)).toBe(false);

    const zero = statements(await runDbt(['run-operation', 'create_lake_stage', '--args', '{mode: snowpipe, retention_days: 0}'], env));
    expect(zero).toContain('data_retention_time_in_days = 0');
    await expect(runDbt(['run-operation', 'create_lake_stage', '--args', '{mode: snowpipe, retention_days: 7}'], env)).rejects.toThrow('retention_days must be 0 or 1');
  }, 300_000);
});
