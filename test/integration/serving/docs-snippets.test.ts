/**
 * The redis-cli and Python snippets of docs/serving.md run as the page prints them, against a
 * Redis holding state the sidecar's writer put there under the local stack's prefix `cf`.
 * The Redis is one of the test's own (so `cf` touches nobody else's keys); the only text
 * changed is the port, the local stack's default 16379, for that Redis' port.
 */
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { COMMON_OPTIONS } from '../../../sidecar/src/config/index.ts';
import { parseEvent, SOURCES } from '../../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { FeatureWriter, loadFunctionLibrary, registerVersion, type StoreRecord } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { privateRedis } from '../../helpers/redis.ts';

const DOC = 'docs/serving.md';
const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);
const LOCAL_PORT = new URL(COMMON_OPTIONS.redisUrl.default).port;
const PREFIX = COMMON_OPTIONS.keyPrefix.default;

/** The fenced blocks of a language in the page whose text contains `marker`. */
function snippets(language: string, marker: string): string[] {
  const blocks = [...readFileSync(DOC, 'utf8').matchAll(new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, 'gm'))].map((m) => m[1] as string);
  return blocks.filter((block) => block.includes(marker));
}

/** A private Redis with the read function loaded under `cf`, client events of `users` written by the sidecar's writer, and watermarks. */
async function storeWithState(users: readonly string[]): Promise<{ port: string }> {
  const own = await privateRedis();
  const redis = new Redis(own.url);
  onTestFinished(() => redis.disconnect());
  await loadFunctionLibrary(redis, registry, PREFIX);
  // as a sidecar's start does: the first version registered is the active one (the alias)
  await registerVersion(redis, PREFIX, registry, 'docs-snippets test');
  const writer = new FeatureWriter(redis, operators, { prefix: PREFIX, allowedLatenessMs: 86_400_000, dedupMarginMs: 3_600_000, pruneAboveFields: 256 });
  const now = Date.now();
  const records: StoreRecord[] = users.map((userId, index) => {
    const parsed = parseEvent(
      'client',
      Buffer.from(
        JSON.stringify({
          event_id: `docs-${userId}`,
          user_id: userId,
          device_id: 'd',
          event_type: 'playback_error',
          event_ts: new Date(now - 60_000).toISOString(),
          ingest_ts: new Date(now - 60_000).toISOString(),
          attributes: { error_code: 'E1' },
        }),
      ),
    );
    if (!parsed.ok) throw new Error(parsed.detail);
    return { event: parsed.event, topic: 'docs.client.events', partition: 0, offset: String(index + 1), ops: operators.opsFor(parsed.event) };
  });
  await writer.write(records);
  await writer.writeWatermarks(SOURCES.map((source) => ({ source, partition: 0, watermarkMs: now })));
  return { port: new URL(own.url).port };
}

describe('the snippets of docs/serving.md, run as printed', () => {
  it('finds the snippets, written for the local stack: port 16379 and prefix cf', () => {
    const [sh] = snippets('sh', 'redis-cli');
    const [python] = snippets('python', 'import redis');
    expect(LOCAL_PORT).toBe('16379');
    expect(PREFIX).toBe('cf');
    for (const text of [sh, python]) {
      expect(text).toContain('16379');
      expect(text).toContain('cf:{lifecycle}:active');
    }
  });

  it('runs the redis-cli snippet: the active version id, the JSON read of u-123 from that version, its watermarks', async () => {
    const [sh] = snippets('sh', 'redis-cli');
    const { port } = await storeWithState(['u-123']);
    const { stdout } = await execa('bash', ['-euo', 'pipefail', '-c', (sh as string).replaceAll(LOCAL_PORT, port)], { timeout: 30_000 });
    const lines = stdout.split('\n');
    expect(lines[0]).toBe(registry.version);
    const read = JSON.parse(lines[1] as string);
    expect(read.present).toBe(true);
    expect(read.features.errors_last_10m).toMatchObject({ value: 1 });
    expect(lines.slice(2)).toContain('client:0');
  });

  it('runs the Python snippet with the redis package of .venv/tools: pipelined reads of u-1 and u-2 and the watermarks', async () => {
    const [python] = snippets('python', 'import redis');
    const { port } = await storeWithState(['u-1', 'u-2']);
    const { stdout } = await execa('.venv/tools/bin/python', ['-c', (python as string).replaceAll(LOCAL_PORT, port)], { timeout: 30_000 });
    const out = JSON.parse(stdout) as { version: string; reads: Array<{ present: boolean; features: Record<string, { value: unknown }> }>; watermarks: Record<string, number> };
    expect(out.reads.map((r) => [r.present, r.features.errors_last_10m?.value])).toEqual([
      [true, 1],
      [true, 1],
    ]);
    expect(Object.keys(out.watermarks).sort()).toEqual(SOURCES.map((s) => `${s}:0`).sort());
    expect(out.version).toBe(registry.version);
  });
});
