import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { activeVersionKey, versionCatalogKey } from '../../../sidecar/src/store/index.ts';
import { FeatureClient, VersionResolver } from '../../../sidecar/src/serving/index.ts';
import { servingRegistry } from '../../helpers/serving.ts';

/** The few commands the resolver sends (GET alias, HGET catalog, HGETALL watermarks), counted. */
function fakeRedis(state: { alias: string | null; catalog: Record<string, string> }) {
  const calls: string[] = [];
  const redis = {
    get: async (key: string) => {
      calls.push(`GET ${key}`);
      return key === activeVersionKey('cf') ? state.alias : null;
    },
    hget: async (key: string, field: string) => {
      calls.push(`HGET ${key} ${field}`);
      return key === versionCatalogKey('cf') ? (state.catalog[field] ?? null) : null;
    },
    hgetall: async () => ({}),
  } as unknown as Redis;
  return { redis, calls };
}

const startup = servingRegistry();
const other = { ...startup, version: '0123456789abcdef', features: startup.features.slice(0, 2) };
/** The catalog holding `other`'s record. */
const withOther = (): Record<string, string> => ({ [other.version]: JSON.stringify({ version: other.version, registry: other }) });

describe('the version resolver', () => {
  it("serves the start-up registry's version before any alias exists", async () => {
    const { redis } = fakeRedis({ alias: null, catalog: {} });
    const resolver = new VersionResolver(redis, 'cf', startup);
    expect((await resolver.resolve()).version).toBe(startup.version);
    resolver.stop();
  });

  it("follows the alias to another version with that version's registry from its catalog record", async () => {
    const { redis } = fakeRedis({ alias: other.version, catalog: withOther() });
    const resolver = new VersionResolver(redis, 'cf', startup);
    const served = await resolver.resolve();
    expect(served.version).toBe(other.version);
    expect(served.registry.features.map((f) => f.name)).toEqual(other.features.map((f) => f.name));
    resolver.stop();
  });

  it('reads the alias once per cache period, shares one GET between concurrent requests, and moves after the period', async () => {
    const state = { alias: startup.version as string | null, catalog: withOther() };
    const { redis, calls } = fakeRedis(state);
    let now = 0;
    const resolver = new VersionResolver(redis, 'cf', startup, { aliasCacheMs: 1_000, clock: () => now });
    await Promise.all([resolver.resolve(), resolver.resolve(), resolver.resolve()]);
    expect(calls.filter((c) => c.startsWith('GET')).length).toBe(1);
    state.alias = other.version;
    now = 999;
    expect((await resolver.resolve()).version).toBe(startup.version);
    now = 1_000;
    expect((await resolver.resolve()).version).toBe(other.version);
    resolver.stop();
  });

  it('answers a batch entirely from one version and names it in every answer', async () => {
    const { redis } = fakeRedis({ alias: other.version, catalog: withOther() });
    const resolver = new VersionResolver(redis, 'cf', startup);
    const served = await resolver.resolve();
    const reads: string[] = [];
    Object.assign(served.reader, {
      readMany: async (ids: readonly string[]) => {
        reads.push(...ids);
        return ids.map(() => ({ present: false, as_of_ms: 0, features: {}, sources: {} }));
      },
    });
    const client = new FeatureClient({ versions: resolver, registry: startup });
    const answers = await client.getMany(['u1', 'u2']);
    expect(answers.map((a) => a.version)).toEqual([other.version, other.version]);
    expect(Object.keys(answers[0]?.features ?? {})).toEqual(other.features.map((f) => f.name));
    expect(reads).toEqual(['u1', 'u2']);
    resolver.stop();
  });

  it('fails with registry_mismatch when the alias names a version without a catalog record', async () => {
    const { redis } = fakeRedis({ alias: 'ffffffffffffffff', catalog: {} });
    const resolver = new VersionResolver(redis, 'cf', startup);
    await expect(resolver.resolve()).rejects.toMatchObject({ code: 'registry_mismatch' });
  });
});
