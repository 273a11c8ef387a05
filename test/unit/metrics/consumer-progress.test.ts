import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ConsumerProgress, consumerProgressGauges } from '../../../sidecar/src/metrics/index.ts';

async function gauges(registry: Registry): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const metric of await registry.getMetricsAsJSON()) for (const v of metric.values) out[`${metric.name}{${String(v.labels.partition)}}`] = v.value;
  return out;
}

describe('consumer progress gauges', () => {
  it('count progress when the committed offset moves or the partition is caught up, and hold the time while a lagging offset stands still', async () => {
    const registry = new Registry();
    const progress = new ConsumerProgress(consumerProgressGauges('t', registry));
    expect(progress.observe('topic', 0, -1n, 100n, 1_000)).toBe(100n);
    expect(progress.observe('topic', 1, -1n, 0n, 1_000)).toBe(0n);
    expect(await gauges(registry)).toEqual({ 't_consumer_lag_records{0}': 100, 't_consumer_lag_records{1}': 0, 't_consumer_last_progress_seconds{0}': 1, 't_consumer_last_progress_seconds{1}': 1 });

    progress.observe('topic', 0, -1n, 120n, 61_000);
    progress.observe('topic', 1, -1n, 0n, 61_000);
    expect(await gauges(registry)).toMatchObject({ 't_consumer_lag_records{0}': 120, 't_consumer_last_progress_seconds{0}': 1, 't_consumer_last_progress_seconds{1}': 61 });

    progress.observe('topic', 0, 50n, 120n, 121_000);
    expect(await gauges(registry)).toMatchObject({ 't_consumer_lag_records{0}': 70, 't_consumer_last_progress_seconds{0}': 121 });
    progress.observe('topic', 0, 50n, 130n, 181_000);
    expect(await gauges(registry)).toMatchObject({ 't_consumer_lag_records{0}': 80, 't_consumer_last_progress_seconds{0}': 121 });
  });
});
