import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { readRecord, registerVersion } from '../../../sidecar/src/store/index.ts';
import { fixtureRegistry } from '../../helpers/registry.ts';

/**
 * ACLs apply inside Redis Functions too: a command the Lua calls that the stack's ACL users
 * (scripts/stack/redis-security.sh) are not granted fails every FCALL with NOPERM. This ties
 * the two files together (the HMGET of store protocol 5 was missing once: the TLS + ACL
 * integration test timed out).
 */
const lua = readFileSync('sidecar/src/store/lua/churnfeat.lua', 'utf8');
const acl = readFileSync('scripts/stack/redis-security.sh', 'utf8');

function granted(variable: string): Set<string> {
  const match = new RegExp(`${variable}="([^"]*)"`).exec(acl);
  if (!match?.[1]) throw new Error(`${variable} not found in redis-security.sh`);
  return new Set(
    match[1]
      .split(/\s+/)
      .filter((c) => c.startsWith('+'))
      .map((c) => c.slice(1).toLowerCase()),
  );
}

const called = [...new Set([...lua.matchAll(/redis\.p?call\('([A-Z]+)'/g)].map((m) => m[1]!.toLowerCase()))].sort();
const READ_ONLY = new Set(['get', 'exists', 'hget', 'hmget', 'hgetall', 'hlen', 'hstrlen', 'time', 'ttl', 'pttl', 'zscore', 'zrange']);

describe('the Redis ACL users and the function library', () => {
  it('grant the sidecar user every command the Lua calls', () => {
    expect(called.length).toBeGreaterThan(5);
    expect(called.filter((c) => !granted('SIDECAR_COMMANDS').has(c))).toEqual([]);
  });

  it("grant the serving user every read-only command the Lua calls (the read function's), and no write", () => {
    const serving = granted('SERVING_COMMANDS');
    expect(called.filter((c) => READ_ONLY.has(c) && !serving.has(c))).toEqual([]);
    expect([...serving].filter((c) => called.includes(c) && !READ_ONLY.has(c))).toEqual([]);
  });
});

/** A Redis that records the command names it is sent and answers like an empty store. */
function recordingRedis(names: Set<string>): Redis {
  const answers: Record<string, unknown> = { get: null, hget: null, hsetnx: 1, set: 'OK', hset: 1, xadd: '1-0', hgetall: {} };
  return new Proxy({} as Redis, {
    get: (_target, name: string) => async () => {
      names.add(name.toLowerCase());
      return answers[name.toLowerCase()];
    },
  });
}

describe('the Redis ACL users and the version catalog', () => {
  it('grant the sidecar user every command its start and its once-a-second check send to the catalog (registration, audit)', async () => {
    const names = new Set<string>();
    const redis = recordingRedis(names);
    await registerVersion(redis, 'cf', fixtureRegistry(), 'test');
    await readRecord(redis, 'cf', fixtureRegistry().version);
    expect([...names].sort()).toEqual(['hget', 'hset', 'hsetnx', 'set', 'xadd']);
    expect([...names].filter((c) => !granted('SIDECAR_COMMANDS').has(c))).toEqual([]);
  });

  it('grant the serving user what following the alias reads (GET alias, HGET catalog record)', () => {
    for (const c of ['get', 'hget']) expect(granted('SERVING_COMMANDS').has(c)).toBe(true);
  });
});
