/**
 * The detector's seasonal history survives a restart through Redis (RedisHistoryStore under
 * redis-layout.ts qualityHistoryKey): a monitor that learnt a week saves it at shutdown, a new
 * one restores it on its first assignment and detects an injected drop at once, where a new
 * one without the key is in cold start.
 */
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { QualityMonitor, RedisHistoryStore, type Observation } from '../../../sidecar/src/quality/index.ts';
import { syntheticStream, type InjectedAnomaly, type StreamOptions } from '../../../sidecar/src/quality/seasonal-stream.ts';
import { qualityHistoryKey } from '../../../sidecar/src/store/index.ts';
import { deleteRedisKeys, testRedis } from '../../helpers/redis.ts';
import { REDIS_URL, testNamespace } from '../../helpers/stack.ts';

const MINUTE = 60_000;
const WEEK = 7 * 24 * 60 * MINUTE;
const START = Date.parse('2026-01-05T00:00:00Z');
const STREAM: StreamOptions = { seed: 5, weeks: 2, warmupWeeks: 1, perKind: 0, startMs: START };
const DROP = START + WEEK + 26 * 60 * MINUTE;
const RESTART = DROP - 2 * 60 * MINUTE;
const drop: InjectedAnomaly[] = [{ id: 1, kind: 'drop', source: 'client', eventType: 'playback_start', platform: '*', startMs: DROP, endMs: DROP + 30 * MINUTE }];

function feed(monitor: QualityMonitor, fromMs: number, untilMs: number): void {
  for (const { minuteMs, observations } of syntheticStream(STREAM, drop)) {
    if (minuteMs >= untilMs) break;
    if (minuteMs >= fromMs) monitor.observe(observations as Observation[]);
  }
}

async function drops(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric('churnfeat_anomaly_detections_total')?.get();
  return (metric?.values ?? []).filter((v) => v.labels.kind === 'drop' && v.labels.event_type === 'playback_start').reduce((n, v) => n + v.value, 0);
}

const assignment = { 'client-topic': [0] };
const sourceOf = (topic: string) => (topic === 'client-topic' ? 'client' : undefined);

/** A monitor as a sidecar starts it: assigned (the history is restored), then fed the stream from `fromMs` to `untilMs`. */
async function startMonitor(store: RedisHistoryStore, registry: Registry, fromMs: number, untilMs: number): Promise<QualityMonitor> {
  const monitor = new QualityMonitor(null, registry, { topic: 'unused', history: store });
  monitor.onAssignment(assignment, sourceOf);
  await monitor.ready();
  feed(monitor, fromMs, untilMs);
  return monitor;
}

describe('detector history in Redis', () => {
  it('a restarted detector restores its seasonal history and still detects an injected drop', async () => {
    const ns = testNamespace();
    onTestFinished(() => deleteRedisKeys(REDIS_URL, ns.id));
    const redis = testRedis();
    onTestFinished(() => redis.quit().then(() => undefined));
    const store = new RedisHistoryStore(redis, qualityHistoryKey(ns.options.keyPrefix));

    const first = await startMonitor(store, new Registry(), START, RESTART);
    await first.persist();
    const saved = await redis.strlen(qualityHistoryKey(ns.options.keyPrefix));
    expect(saved).toBeGreaterThan(1_000);

    const registry = new Registry();
    await startMonitor(store, registry, RESTART, DROP + 30 * MINUTE);
    expect(await drops(registry)).toBeGreaterThan(0);
    const errors = await registry.getSingleMetric('churnfeat_quality_detector_errors_total')?.get();
    expect(errors?.values.find((v) => v.labels.stage === 'history')?.value).toBe(0);

    // the control: without the key, the same restart is a cold start and sees nothing
    await redis.del(qualityHistoryKey(ns.options.keyPrefix));
    const coldRegistry = new Registry();
    await startMonitor(store, coldRegistry, RESTART, DROP + 30 * MINUTE);
    expect(await drops(coldRegistry)).toBe(0);
  });
});
