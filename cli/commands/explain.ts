/**
 * `churnfeat explain <user>`: what produced each feature value served for a user (the audit
 * trail, docs/data-quality.md "Explain"): online, the tiles, running total and edge tiles, the
 * window, the applied offsets per partition, the watermarks and the registry version, with the
 * value recomputed from them; with --offline also the lake objects and rows behind the same
 * value, the offline value and dbt's tile rows. Exit 1 when a recomputed or offline value
 * differs from the served one.
 */
import { EXPLAIN_OPTIONS, explainOffline, type OfflineExplanation } from '../../sidecar/src/audit/index.ts';
import { createRedisClient, loadOptions, redactUrl } from '../../sidecar/src/config/index.ts';
import { UsageError } from '../../sidecar/src/config/option-table.ts';
import { loadFeatureRegistry, type FeatureRegistry } from '../../sidecar/src/features/index.ts';
import { lakeStorageFromUri } from '../../sidecar/src/lake/index.ts';
import { ChurnfeatError } from '../../sidecar/src/errors.ts';
import { isValidUserId, toServingError } from '../../sidecar/src/serving/index.ts';
import { explainUser, parseInstant, resolveActiveVersion, versionPrefix, type StateExplanation } from '../../sidecar/src/store/index.ts';
import { EXIT, tableUsage, type Command } from '../command.ts';

const show = (value: unknown): string => JSON.stringify(value);

/** The human summary: one block per feature. */
export function summarize(online: StateExplanation, offline: OfflineExplanation | null): string {
  const lines = [`user ${online.user_id} at ${online.as_of} (registry ${online.registry_version}, keyspace version ${online.version})`];
  for (const s of online.sources)
    lines.push(`  applied ${s.source} partition ${s.partition} up to offset ${s.offset} (watermark ${s.watermark_ms === null ? 'none' : new Date(s.watermark_ms).toISOString()})`);
  for (const f of online.features) {
    lines.push(`${f.feature} = ${show(f.served)}  [${f.aggregation}, window ${f.window.from} .. ${f.window.to}, tiles ${f.window.tile_lo}..${f.window.tile_hi}]`);
    lines.push(`  tiles: ${f.tiles.length === 0 ? 'none' : f.tiles.map((t) => `${t.start}=${t.value}`).join(' ')}`);
    if (f.running && f.running.path !== 'none')
      lines.push(
        `  running total: base ${f.running.base} total ${f.running.total} top ${f.running.top}, read path ${f.running.path}, edge tiles ${f.running.below.length} below + ${f.running.above.length} above`,
      );
    if (f.last_candidate)
      lines.push(`  last candidate: ${show(f.last_candidate.value)} at ${new Date(f.last_candidate.event_ms).toISOString()} (${f.last_candidate.in_window ? 'in' : 'outside'} the window)`);
    lines.push(`  recomputed ${show(f.recomputed)}: ${f.consistent ? 'equal to the served value' : `NOT CONSISTENT: ${f.discrepancy}`}`);
    const o = offline?.features.find((x) => x.feature === f.feature);
    if (o) {
      lines.push(`  offline ${show(o.value)} from ${o.rows.length} lake row(s): ${o.equal_to_online ? 'equal to online' : 'DIFFERENT from online'}`);
      for (const r of o.rows) lines.push(`    ${r.topic}/${r.partition}@${r.offset} ${r.event_id ?? r.event_key} ${r.event_time}  ${r.object}`);
      lines.push(`  dbt tiles: ${o.dbt_tiles === null ? `none (${o.dbt_error ?? 'no warehouse'})` : o.dbt_tiles.length}`);
    }
  }
  if (offline) lines.push(`lake ${offline.lake}: ${offline.objects.length} object(s) hold the user; left out: ${show(offline.excluded)}`);
  return `${lines.join('\n')}\n`;
}

export const command: Command = {
  usage: () =>
    tableUsage(
      'explain <user_id> [--feature NAME] [--as-of TIME] [--offline] [--json] [options]',
      'What produced each served feature value of a user: tiles, running total and edge tiles, window, applied offsets, watermarks, registry version,\nrecomputed and compared; --offline adds the lake objects and rows behind each value, the offline value and dbt tile rows.',
      EXPLAIN_OPTIONS,
      'Exit 1: a recomputed or offline value differs from the served one.\n',
    ),
  async run(argv) {
    const [userId, ...rest] = argv;
    if (userId === undefined || userId.startsWith('--')) throw new UsageError('a user id is needed: churnfeat explain <user_id>');
    if (!isValidUserId(userId)) throw new UsageError(`user id must be 1-64 characters of A-Z a-z 0-9 _ . -`);
    const options = loadOptions(EXPLAIN_OPTIONS, rest);
    const registry = loadFeatureRegistry(options.dbtProjectDir);
    if (options.feature !== '' && !registry.features.some((f) => f.name === options.feature)) {
      throw new UsageError(`--feature: no feature ${options.feature} in the registry (${registry.features.map((f) => f.name).join(', ')})`);
    }
    const asOfMs = options.asOf === '' ? undefined : parseInstant(options.asOf);
    if (asOfMs === null) throw new UsageError('--as-of must be an RFC 3339 time with a zone or epoch milliseconds');
    const features = options.feature === '' ? undefined : [options.feature];
    // one attempt, then a one-line error (exit 1), rather than the client's reconnect loop
    const redis = createRedisClient(options, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => null });
    let lastError = '';
    redis.on('error', (error: Error) => {
      lastError = error.message;
    });
    let online: StateExplanation;
    let served: FeatureRegistry = registry;
    try {
      await redis.connect().catch((error: unknown) => {
        throw new ChurnfeatError('redis_unavailable', `Redis ${redactUrl(options.redisUrl)}: ${lastError || (error instanceof Error ? error.message : String(error))}`, { cause: error });
      });
      const active = await resolveActiveVersion(redis, options.keyPrefix, registry);
      served = active.registry;
      online = await explainUser(
        redis,
        active.registry,
        versionPrefix(options.keyPrefix, active.version),
        { userId, ...(asOfMs === undefined ? {} : { asOfMs }), ...(features ? { features } : {}) },
        active.version,
      ).catch((error: unknown) => {
        // "function not found": no sidecar of this registry loaded its functions into this Redis
        throw new ChurnfeatError('redis_unavailable', toServingError(error, registry.version).message, { cause: error });
      });
    } finally {
      await redis.quit().catch(() => redis.disconnect());
    }
    let offline: OfflineExplanation | null = null;
    if (options.offline) {
      const storage = lakeStorageFromUri(options.lakeUri, { endpoint: options.s3Endpoint || undefined });
      offline = await explainOffline({ storage, registry: served, userId, asOfMs: online.as_of_ms, online, warehousePath: options.duckdbPath, ...(features ? { features } : {}) });
    }
    process.stdout.write(options.json ? `${JSON.stringify(offline ? { online, offline } : { online }, null, 2)}\n` : summarize(online, offline));
    return online.consistent && (offline === null || offline.equal_to_online === true) ? EXIT.ok : EXIT.failed;
  },
};
