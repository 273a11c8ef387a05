/**
 * The online state lifecycle as Prometheus metrics of the serving process, read from Redis at
 * scrape time (docs/lifecycle.md, "Alerts"): every version's state and how far its sidecar's
 * watermarks are behind, the bootstraps and when they started, retired versions waiting for
 * GC, whether the alias names a catalogued version, and the last rollback. The serving process
 * already follows the alias and reads the catalog; one read of the lifecycle keys per scrape
 * (a catalog HGETALL, the alias, per live version its watermarks and bootstrap fields, the
 * audit stream's newest entries) is cheap at a scrape every 15-30 s.
 */
import type { Redis } from 'ioredis';
import { Gauge, type Registry } from 'prom-client';
import { activeVersionKey, bootstrapKey, readAudit, readCatalog, versionPrefix, watermarkKey, type VersionRecord } from '../store/index.ts';
import { WatermarkSnapshot } from './watermarks.ts';

/** One version as the metrics show it. */
export interface LifecycleVersionView {
  version: string;
  state: VersionRecord['state'];
  /** Seconds since the version's oldest partition watermark, or since its registration when its sidecar published none (null: retired or collected). */
  watermarkAgeSeconds: number | null;
  /** Its bootstrap key: null when no bootstrap ran for it. */
  bootstrap: { complete: boolean; startedAtSeconds: number | null } | null;
  /** When it was retired (state retired only: a collected version is done). */
  retiredAtSeconds: number | null;
}

/** Everything the lifecycle metrics say, from one read of the lifecycle keys. */
export interface LifecycleView {
  versions: LifecycleVersionView[];
  /** The alias is absent while the catalog holds versions. */
  aliasMissing: boolean;
  /** The alias names a version the catalog has no record of. */
  aliasUnknown: boolean;
  /** When the last rollback that was done happened (among the audit's newest entries), else null. */
  lastRollbackAtSeconds: number | null;
}

const seconds = (iso: string | null | undefined): number | null => {
  const ms = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(ms) ? ms / 1000 : null;
};

/** How many of the audit stream's newest entries are searched for the last rollback. */
const AUDIT_WINDOW = 200;

/** Reads the lifecycle keys under `prefix` at `nowMs`. */
export async function readLifecycleView(redis: Redis, prefix: string, nowMs: number): Promise<LifecycleView> {
  const [active, records, audit] = await Promise.all([redis.get(activeVersionKey(prefix)), readCatalog(redis, prefix), readAudit(redis, prefix, AUDIT_WINDOW)]);
  const versions = await Promise.all(
    [...records.values()].map(async (record): Promise<LifecycleVersionView> => {
      const live = record.state !== 'retired' && record.state !== 'collected';
      let watermarkAgeSeconds: number | null = null;
      let bootstrap: LifecycleVersionView['bootstrap'] = null;
      if (live) {
        const keyspace = versionPrefix(prefix, record.version);
        const [marks, [state, startedAt]] = await Promise.all([redis.hgetall(watermarkKey(keyspace)), redis.hmget(bootstrapKey(prefix, record.version), 'state', 'started_at')]);
        const published = [...WatermarkSnapshot.fromHash(marks, nowMs).entries()].map((e) => e.watermarkMs);
        const since = published.length > 0 ? Math.min(...published) : Date.parse(record.registeredAt);
        watermarkAgeSeconds = Number.isFinite(since) ? Math.max(0, nowMs - since) / 1000 : null;
        if (state !== null) bootstrap = { complete: state === 'complete', startedAtSeconds: seconds(startedAt) };
      }
      return { version: record.version, state: record.state, watermarkAgeSeconds, bootstrap, retiredAtSeconds: record.state === 'retired' ? seconds(record.retiredAt) : null };
    }),
  );
  const rollback = [...audit].reverse().find((e) => e.action === 'rollback' && e.outcome === 'done');
  return {
    versions,
    aliasMissing: active === null && records.size > 0,
    aliasUnknown: active !== null && !records.has(active),
    lastRollbackAtSeconds: rollback ? seconds(rollback.at) : null,
  };
}

/**
 * The lifecycle gauges in `registry`, filled at scrape time from {@link readLifecycleView}.
 * A read that fails (Redis away) leaves the gauges empty and sets
 * `churnfeat_lifecycle_read_failed` to 1, so a scrape never fails because of them.
 */
export function registerLifecycleMetrics(registry: Registry, redis: Redis, prefix: string, clock: () => number = Date.now): void {
  let view: Promise<LifecycleView | null> | null = null;
  // one Redis read per scrape: a scrape starts every gauge's collect before any awaits, so they share the read in flight
  const current = (): Promise<LifecycleView | null> => {
    view ??= readLifecycleView(redis, prefix, clock())
      .catch(() => null)
      .finally(() => {
        view = null;
      });
    return view;
  };
  // each gauge's collect: cleared, then filled from this scrape's view (nothing when the read failed)
  const fill = <L extends string>(set: (g: Gauge<L>, v: LifecycleView) => void) =>
    async function collect(this: Gauge<L>): Promise<void> {
      this.reset();
      const v = await current();
      if (v !== null) set(this, v);
    };
  new Gauge({
    name: 'churnfeat_lifecycle_read_failed',
    help: '1 when the last read of the lifecycle keys failed (the other churnfeat_lifecycle_* gauges are then absent), else 0.',
    registers: [registry],
    async collect() {
      this.set((await current()) === null ? 1 : 0);
    },
  });
  new Gauge({
    name: 'churnfeat_lifecycle_version_info',
    help: '1 per catalogued version, labelled with its state (shadow, active, standby, retired, collected).',
    labelNames: ['version', 'state'],
    registers: [registry],
    collect: fill((g, v) => {
      for (const r of v.versions) g.set({ version: r.version, state: r.state }, 1);
    }),
  });
  new Gauge({
    name: 'churnfeat_lifecycle_version_watermark_age_seconds',
    help: "Seconds since the oldest partition watermark of a shadow, active or standby version (since its registration when its sidecar published none): how far that version's sidecar is behind, growing while it is stopped.",
    labelNames: ['version', 'state'],
    registers: [registry],
    collect: fill((g, v) => {
      for (const r of v.versions) if (r.watermarkAgeSeconds !== null) g.set({ version: r.version, state: r.state }, r.watermarkAgeSeconds);
    }),
  });
  new Gauge({
    name: 'churnfeat_lifecycle_bootstrap_complete',
    help: "1 when a live version's bootstrap is complete, 0 while it is loading (absent: no bootstrap ran for it).",
    labelNames: ['version'],
    registers: [registry],
    collect: fill((g, v) => {
      for (const r of v.versions) if (r.bootstrap !== null) g.set({ version: r.version }, r.bootstrap.complete ? 1 : 0);
    }),
  });
  new Gauge({
    name: 'churnfeat_lifecycle_bootstrap_started_timestamp_seconds',
    help: "When a live version's bootstrap took its cut (Unix seconds).",
    labelNames: ['version'],
    registers: [registry],
    collect: fill((g, v) => {
      for (const r of v.versions) if (r.bootstrap?.startedAtSeconds != null) g.set({ version: r.version }, r.bootstrap.startedAtSeconds);
    }),
  });
  new Gauge({
    name: 'churnfeat_lifecycle_version_retired_timestamp_seconds',
    help: 'When a retired version, not garbage-collected yet, was retired (Unix seconds).',
    labelNames: ['version'],
    registers: [registry],
    collect: fill((g, v) => {
      for (const r of v.versions) if (r.retiredAtSeconds !== null) g.set({ version: r.version }, r.retiredAtSeconds);
    }),
  });
  new Gauge({
    name: 'churnfeat_lifecycle_alias_problem',
    help: '1 when the alias is missing while versions are catalogued (problem="missing"), or names a version without a catalog record (problem="unknown_version"), else 0.',
    labelNames: ['problem'],
    registers: [registry],
    collect: fill((g, v) => {
      g.set({ problem: 'missing' }, v.aliasMissing ? 1 : 0);
      g.set({ problem: 'unknown_version' }, v.aliasUnknown ? 1 : 0);
    }),
  });
  new Gauge({
    name: 'churnfeat_lifecycle_last_rollback_timestamp_seconds',
    help: 'When the last rollback was done (Unix seconds; 0 when none is among the newest audit entries).',
    registers: [registry],
    collect: fill((g, v) => {
      if (v.lastRollbackAtSeconds !== null) g.set(v.lastRollbackAtSeconds);
    }),
  });
}
