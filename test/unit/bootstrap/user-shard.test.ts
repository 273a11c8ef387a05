import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { parseUserShard, userShardOf, userShardSql } from '../../../sidecar/src/bootstrap/index.ts';
import { UsageError } from '../../../sidecar/src/config/index.ts';
import { prng } from '../../../sidecar/src/loadgen/workload.ts';

describe('the shards of the user space', () => {
  it('parses k/n and refuses anything else, naming --users', () => {
    expect(parseUserShard('2/3')).toEqual({ index: 2, count: 3 });
    expect(parseUserShard('1/1')).toEqual({ index: 1, count: 1 });
    for (const bad of ['0/3', '4/3', '3', 'a/b', '1/0', '-1/2', '1/16385', ' / ']) expect(() => parseUserShard(bad), bad).toThrow(UsageError);
    expect(() => parseUserShard('4/3')).toThrow(/--users/);
  });

  it('gives every user id the same shard in the warehouse query as in TypeScript, and spreads users evenly', async () => {
    const random = prng(7);
    const users = Array.from({ length: 3_000 }, (_, i) => (i % 3 === 0 ? `u-${i}` : `user-${Math.floor(random() * 1e9).toString(36)}-é${i}`));
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    try {
      for (const count of [2, 3, 7, 16_384]) {
        const values = users.map((u) => `('${u}')`).join(', ');
        const rows = (await connection.runAndReadAll(`select u, ${userShardSql('u', count)} from (values ${values}) as t (u)`)).getRows();
        const got = new Map(rows.map((r) => [String(r[0]), Number(r[1])]));
        for (const user of users) expect(got.get(user), `${user} of ${count}`).toBe(userShardOf(user, count));
      }
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
    const perShard = [1, 2, 3].map((k) => users.filter((u) => userShardOf(u, 3) === k).length);
    for (const n of perShard) expect(Math.abs(n - 1_000)).toBeLessThan(120);
  });
});
