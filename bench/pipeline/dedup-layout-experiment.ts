/**
 * Memory and Redis CPU of the per-user dedup horizon in three layouts, for a daily active
 * user's day of events (the seed's 1,728; about 1,500 are relevant and remembered). Not a
 * test: prints figures and writes bench/results/pipeline-<date>-dedup-layout.json.
 *
 *   npx tsx bench/pipeline/dedup-layout-experiment.ts [--users 200] [--members 1500]
 *
 *   zset        today's layout: one ZSET per user and source, member = 12-byte key hash,
 *               score = event second; past zset-max-listpack-entries (128) it becomes a
 *               skiplist + dict
 *   hash-15m    one HASH per user and 15-minute tile of event time, field = the same
 *               member, empty value; each stays a listpack; expired whole by PEXPIREAT at
 *               the tile's end + the dedup horizon, so no ZREMRANGEBYSCORE is needed
 *   zset-1h     one ZSET per user and hour of event time (listpack up to 128 members)
 *   zset-listpack-2048  today's layout with zset-max-listpack-entries 2048: the one-line
 *               config alternative; its ZADD NX scans the listpack, so its CPU matters
 * Each insert is what the apply function would do for one event (an NX add, plus the
 * expiry for the bucketed layouts); they are sent pipelined, and the server's CPU time
 * is read from INFO before and after. Every layout runs on a private redis-server (unix
 * socket, no persistence) started and stopped by this script, never on the shared one.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { prng } from '../../sidecar/src/loadgen/index.ts';
import { dedupMember } from '../../sidecar/src/store/redis-layout.ts';
import { describeMachine } from './machine.ts';
import { serverCpuSeconds } from './redis-stats.ts';

const { values } = parseArgs({ options: { users: { type: 'string' }, members: { type: 'string' } } });
const USERS = Number(values.users ?? 200);
const MEMBERS = Number(values.members ?? 1_500);
const PREFIX = `bench.dd${Date.now().toString(36)}`;
const HORIZON_S = 25 * 3_600;

type Layout = 'zset' | 'hash-15m' | 'zset-1h';
const rand = prng(5);
const day = Math.floor(Date.now() / 86_400_000) * 86_400;
// Each user's events: spread over 6 evening hours of event time, as in the DAU simulation.
const events = Array.from({ length: USERS }, (_, u) =>
  Array.from({ length: MEMBERS }, (_, i) => ({
    member: `c${dedupMember(`${u}-${i}-${Math.floor(rand() * 1e9)}`).toString('base64url')}`,
    second: day + 18 * 3_600 + Math.floor((i * 6 * 3_600) / MEMBERS),
  })),
);

async function load(layout: Layout, redis: Redis, prefix: string): Promise<{ bytesPerUser: number; keysPerUser: number; redisCpuMicrosPerInsert: number; encodings: Record<string, number> }> {
  const cpu0 = await serverCpuSeconds(redis);
  for (let u = 0; u < USERS; u++) {
    const pipe = redis.pipeline();
    const base = `${prefix}.${layout}:{u${u}}:dd`;
    for (const { member, second } of events[u] as Array<{ member: string; second: number }>) {
      if (layout === 'zset') {
        pipe.zadd(base, 'NX', second, member);
      } else if (layout === 'hash-15m') {
        const tile = Math.floor(second / 900);
        pipe.hsetnx(`${base}:${tile}`, member, '');
        pipe.expireat(`${base}:${tile}`, (tile + 1) * 900 + HORIZON_S);
      } else {
        const hour = Math.floor(second / 3_600);
        pipe.zadd(`${base}:${hour}`, 'NX', second, member);
        pipe.expireat(`${base}:${hour}`, (hour + 1) * 3_600 + HORIZON_S);
      }
    }
    if (layout === 'zset') pipe.expire(base, HORIZON_S);
    await pipe.exec();
  }
  const cpu = (await serverCpuSeconds(redis)) - cpu0;
  let bytes = 0;
  let keys = 0;
  const encodings: Record<string, number> = {};
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}.${layout}:*`, 'COUNT', 1_000);
    cursor = next;
    const pipe = redis.pipeline();
    for (const key of batch) {
      pipe.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
      pipe.call('OBJECT', 'ENCODING', key);
    }
    const replies = (await pipe.exec()) ?? [];
    batch.forEach((_, i) => {
      bytes += Number(replies[2 * i]?.[1] ?? 0);
      const e = String(replies[2 * i + 1]?.[1]);
      encodings[e] = (encodings[e] ?? 0) + 1;
    });
    keys += batch.length;
  } while (cursor !== '0');
  return { bytesPerUser: Math.round(bytes / USERS), keysPerUser: Math.round((keys / USERS) * 10) / 10, redisCpuMicrosPerInsert: Math.round((cpu * 1e8) / (USERS * MEMBERS)) / 100, encodings };
}

/** Runs `work` against a redis-server of our own (unix socket, no persistence), stopped afterwards by its pid. */
async function onPrivateRedis<T>(config: string[], work: (redis: Redis) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(os.tmpdir(), 'churnfeat-redis-'));
  const socket = join(dir, 'redis.sock');
  const server = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--save', '', '--appendonly', 'no', ...config], { stdio: 'ignore' });
  try {
    for (let waited = 0; !existsSync(socket); waited += 50) {
      if (waited > 10_000 || server.exitCode !== null) throw new Error('private redis-server did not start');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const client = new Redis({ path: socket });
    try {
      return await work(client);
    } finally {
      client.disconnect();
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
  }
}

// Every layout runs on a private redis-server with Redis's built-in defaults (or the one
// setting under test), so the figures do not depend on how the shared instance is tuned.
const results: Record<string, unknown> = {};
const defaults = await onPrivateRedis([], async (r) => {
  const out: Record<string, string> = {};
  for (const name of ['zset-max-listpack-entries', 'hash-max-listpack-entries', 'hash-max-listpack-value']) out[name] = ((await r.config('GET', name)) as string[])[1] as string;
  for (const layout of ['zset', 'hash-15m', 'zset-1h'] as const) {
    results[layout] = await load(layout, r, PREFIX);
    process.stdout.write(`${layout}: ${JSON.stringify(results[layout])}\n`);
  }
  return out;
});
results['zset-listpack-2048'] = await onPrivateRedis(['--zset-max-listpack-entries', '2048'], (r) => load('zset', r, PREFIX));
process.stdout.write(`zset-listpack-2048: ${JSON.stringify(results['zset-listpack-2048'])}\n`);
const machine = await onPrivateRedis([], (r) => describeMachine(r));
const out = {
  experiment: 'dedup layout',
  date: new Date().toISOString(),
  command: `npx tsx bench/pipeline/dedup-layout-experiment.ts ${process.argv.slice(2).join(' ')}`.trim(),
  machine,
  users: USERS,
  membersPerUser: MEMBERS,
  redisDefaults: defaults,
  layouts: results,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/pipeline-${out.date.slice(0, 10)}-dedup-layout.json`, `${JSON.stringify(out, null, 2)}\n`);
