import { readFileSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { queryActivity } from '../../../parity/src/offline.ts';
import type { Warehouse } from '../../../parity/src/warehouse/warehouse.ts';
import { CANARY_USER_PREFIX, canaryUserId } from '../../../sidecar/src/canary/index.ts';

describe('synthetic users: one rule', () => {
  it('dbt drops the same prefix the canary writes (dbt var churnfeat_synthetic_user_prefix)', () => {
    const project = load(readFileSync('dbt_project/dbt_project.yml', 'utf8')) as { vars: Record<string, unknown> };
    expect(project.vars.churnfeat_synthetic_user_prefix).toBe(CANARY_USER_PREFIX);
  });

  it('the parity job never samples a canary user', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    const warehouse: Warehouse = {
      dialect: 'duckdb',
      query: async (sql) => (await connection.runAndReadAll(sql)).getRowObjectsJS() as Awaited<ReturnType<Warehouse['query']>>,
      close: async () => connection.closeSync(),
    };
    try {
      await warehouse.query(
        `create table lake as select * from (values ('${canaryUserId('client', 0)}', 10), ('u-1', 10), ('u-2', 20), ('${canaryUserId('billing', 2)}', 10)) as t(user_id, ingest_ms)`,
      );
      const frame = await queryActivity(warehouse, 'lake', 100);
      expect(frame.map((u) => u.userId).sort()).toEqual(['u-1', 'u-2']);
    } finally {
      await warehouse.close();
      instance.closeSync();
    }
  });
});
