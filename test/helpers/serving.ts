/** Serving fixtures: a hand-built registry, cf_read answers, a fake state reader, watermarks, a client. */
import { setTimeout as sleep } from 'node:timers/promises';
import { compileFeature, type FeatureRegistry } from '../../sidecar/src/features/index.ts';
import type { UserStateRead } from '../../sidecar/src/store/index.ts';
import { FeatureClient, WatermarkSnapshot, type StateReader, type UserFeatures } from '../../sidecar/src/serving/index.ts';
import type { FeatureReads } from './reference.ts';

/** A small registry with one feature per aggregation, on two sources, with different freshness SLOs. */
export function servingRegistry(): FeatureRegistry {
  const meta = (source: string, types: string[], fn: string, attribute: string | undefined, freshness: string) => ({
    entity: 'user_id',
    source,
    filter: { event_types: types },
    aggregation: attribute === undefined ? { function: fn } : { function: fn, attribute },
    window: '1h',
    granularity: '5m',
    freshness_slo: freshness,
  });
  return {
    version: 'feedfacecafebeef',
    policies: { allowedLatenessMs: 86_400_000, dedupMarginMs: 3_600_000, dedupHorizonMs: 90_000_000, maxTilesPerWindow: 2000 },
    features: [
      compileFeature('f.yml', 'm', 'errors_last_1h', meta('client', ['playback_error'], 'count', undefined, '2m')),
      compileFeature('f.yml', 'm', 'watch_time_last_1h', meta('client', ['playback_heartbeat'], 'sum', 'watched_seconds', '2m')),
      compileFeature('f.yml', 'm', 'titles_last_1h', meta('client', ['playback_start'], 'count_distinct', 'content_id', '2m')),
      compileFeature('f.yml', 'm', 'min_amount_last_1h', meta('billing', ['payment_failed'], 'min', 'amount', '10m')),
      compileFeature('f.yml', 'm', 'max_amount_last_1h', meta('billing', ['payment_failed'], 'max', 'amount', '10m')),
      compileFeature('f.yml', 'm', 'last_currency_1h', meta('billing', ['payment_failed'], 'last', 'currency', '10m')),
    ],
  };
}

export const NOW = Date.UTC(2025, 2, 1, 12, 0, 0);

/** What cf_read answers for a user with client state on partition 2 and no billing state. */
export function clientOnlyRead(asOfMs = NOW): UserStateRead {
  return {
    present: true,
    as_of_ms: asOfMs,
    features: {
      errors_last_1h: { value: 3, latest_event_ms: NOW - 60_000 },
      watch_time_last_1h: { value: 600, latest_event_ms: NOW - 120_000 },
      titles_last_1h: { value: 2, latest_event_ms: NOW - 300_000 },
      min_amount_last_1h: { value: null, latest_event_ms: null },
      max_amount_last_1h: { value: null, latest_event_ms: null },
      last_currency_1h: { value: null, latest_event_ms: null },
    },
    sources: { client: { partition: 2, offset: 41, applied_ingest_ms: NOW - 60_000 } },
  };
}

/** What cf_read answers for a user it has no state for. */
export function absentRead(asOfMs = NOW): UserStateRead {
  return { present: false, as_of_ms: asOfMs, features: {}, sources: {} };
}

/** A StateReader answering from a map (absent users for unknown ids), recording calls. */
export class FakeReader implements StateReader {
  readonly calls: Array<{ userIds: readonly string[]; asOfMs: number | undefined }> = [];
  failWith: Error | null = null;

  constructor(private readonly users: Record<string, UserStateRead> = {}) {}

  async read(userId: string, asOfMs?: number): Promise<UserStateRead> {
    return (await this.readMany([userId], asOfMs))[0] as UserStateRead;
  }

  async readMany(userIds: readonly string[], asOfMs?: number): Promise<UserStateRead[]> {
    this.calls.push({ userIds, asOfMs });
    if (this.failWith) throw this.failWith;
    return userIds.map((id) => this.users[id] ?? absentRead(asOfMs ?? NOW));
  }
}

/** Watermarks: client partitions 0-3 and billing 0-1, all fresh unless overridden. */
export function watermarks(overrides: Array<[source: 'client' | 'billing' | 'support', partition: number, ms: number]> = []): WatermarkSnapshot {
  const entries = new Map<string, ['client' | 'billing' | 'support', number, number]>();
  for (let p = 0; p < 4; p++) entries.set(`client:${p}`, ['client', p, NOW - 1_000]);
  for (let p = 0; p < 2; p++) entries.set(`billing:${p}`, ['billing', p, NOW - 1_000]);
  for (const [source, partition, ms] of overrides) entries.set(`${source}:${partition}`, [source, partition, ms]);
  return new WatermarkSnapshot(entries.values(), NOW);
}

export function fixtureClient(reader: StateReader, snapshot = watermarks(), maxBatch = 5): FeatureClient {
  return new FeatureClient({ reader, registry: servingRegistry(), watermarks: { snapshot: () => snapshot }, maxBatch, clock: () => NOW });
}

/** What a reader polling the HTTP read API saw: every answer, every error, the versions of each batch. */
export interface PollingReader {
  answers: UserFeatures[];
  errors: string[];
  batchVersions: string[][];
  /** Stops polling; resolves when the last request has returned. */
  stop(): Promise<void>;
}

/** How a {@link pollFeatures} reader paces itself. */
export interface PollingOptions {
  /** Users in each batch request (the first ones). Default 12. */
  batchSize?: number;
  /**
   * Pause after each round (one GET, every 4th round a batch too), so the reader does not take
   * the CPU from the pipeline it watches. Default 0: flat out. About 10 ms gives a few hundred
   * answers a second.
   */
  pauseMs?: number;
}

/** Polls `GET /v1/features/{user}` round the users, and every 4th time one batch of the first `batchSize`, one request in flight, until stopped. */
export function pollFeatures(url: string, users: readonly string[], { batchSize = 12, pauseMs = 0 }: PollingOptions = {}): PollingReader {
  const answers: UserFeatures[] = [];
  const errors: string[] = [];
  const batchVersions: string[][] = [];
  let polling = true;
  const loop = (async () => {
    for (let i = 0; polling; i += 1) {
      const user = users[i % users.length] as string;
      try {
        const single = await fetch(`${url}/v1/features/${user}`);
        if (single.status === 200) answers.push((await single.json()) as UserFeatures);
        else errors.push(`GET ${user}: ${single.status} ${await single.text()}`);
        if (i % 4 === 0) {
          const batch = await fetch(`${url}/v1/features:batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_ids: users.slice(0, batchSize) }) });
          if (batch.status !== 200) errors.push(`batch: ${batch.status} ${await batch.text()}`);
          else {
            const { results } = (await batch.json()) as { results: UserFeatures[] };
            answers.push(...results);
            batchVersions.push(results.map((r) => r.version));
          }
        }
      } catch (error) {
        errors.push(`request failed: ${String(error)}`);
      }
      if (pauseMs > 0 && polling) await sleep(pauseMs);
    }
  })();
  return {
    answers,
    errors,
    batchVersions,
    async stop() {
      polling = false;
      await loop;
    },
  };
}

/** An HTTP answer's features in the shape the reference is compared in. */
export function readsOf(answer: UserFeatures): FeatureReads {
  return Object.fromEntries(Object.entries(answer.features).map(([name, f]) => [name, { value: f.value, latest_event_ms: f.latest_event_ms }]));
}
