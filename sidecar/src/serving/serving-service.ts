import type { FastifyInstance } from 'fastify';
import { createRedisClient } from '../config/index.ts';
import { loadFeatureRegistry, type FeatureRegistry } from '../features/index.ts';
import { explainUser, versionPrefix } from '../store/index.ts';
import { FeatureClient, READ_PATH_REDIS_OPTIONS, RedisStateReader } from './feature-client.ts';
import { buildServingApp, registerAdminRoutes } from './http-server.ts';
import { defaultOpsProviders, registerParityGauges, withProviders, type OpsDataProvider } from './ops-data.ts';
import { OPS_OPENAPI_PATHS } from './openapi.ts';
import { registerOpsRoutes } from './ops-page.ts';
import { versionsOpsProvider } from './ops-versions.ts';
import { ReadinessProbe } from './readiness.ts';
import { ReplicaFallbackReader } from './replica-fallback.ts';
import { resolveServeOptions, type ServeOptions } from './serve-options.ts';
import { registerLifecycleMetrics } from './lifecycle-metrics.ts';
import { ServingMetrics } from './serving-metrics.ts';
import { VersionResolver } from './version-resolver.ts';
import { WatermarkSnapshot } from './watermarks.ts';

/** A running serving service: the fastify app, its address, and how to stop it. */
export interface ServingService {
  app: FastifyInstance;
  /** "http://host:port" the service listens on. */
  url: string;
  client: FeatureClient;
  metrics: ServingMetrics;
  close(): Promise<void>;
}

/**
 * Wires the serving service: Redis connection (fail-fast settings), watermark cache,
 * FeatureClient, readiness probe, metrics and the fastify app, then listens.
 * Starts even when Redis is down (it reconnects; /readyz says 503 until then).
 */
export async function startServingService(
  overrides: Partial<ServeOptions> = {},
  registry?: FeatureRegistry,
  extra: { adminRoutes?: (scope: FastifyInstance) => void; adminOpenApi?: Record<string, unknown>; opsProviders?: readonly OpsDataProvider[] } = {},
): Promise<ServingService> {
  const options = resolveServeOptions(overrides);
  const features = registry ?? loadFeatureRegistry(options.dbtProjectDir);
  const redisOptions = { ...READ_PATH_REDIS_OPTIONS, commandTimeout: options.redisCommandTimeoutMs };
  const redis = createRedisClient(options, redisOptions);
  redis.on('error', () => undefined); // reported through /readyz and the store error counter
  await redis.connect().catch(() => undefined);
  // Replica reads through Sentinels fall back to the primary while no replica is reachable.
  const primary = options.redisReadFrom === 'replica' && options.redisSentinels.length > 0 ? createRedisClient({ ...options, redisReadFrom: 'primary' }, redisOptions) : null;
  primary?.on('error', () => undefined);
  await primary?.connect().catch(() => undefined);
  // read on every scrape and request, after `versions` below exists
  const watermarks = { snapshot: () => versions.current()?.watermarks.snapshot() ?? WatermarkSnapshot.empty() };
  const metrics = new ServingMetrics({ watermarks });
  registerLifecycleMetrics(metrics.registry, primary ?? redis, options.keyPrefix);
  const versions = new VersionResolver(redis, options.keyPrefix, features, {
    aliasCacheMs: options.aliasCacheMs,
    watermarkRefreshMs: options.watermarkRefreshMs,
    ...(primary
      ? {
          control: primary,
          wrapReader: (reader, served) =>
            new ReplicaFallbackReader({ reader, client: redis }, new RedisStateReader(primary, served, options.keyPrefix), {
              fallingBack: (active) => metrics.replicaFallback.set(active ? 1 : 0),
              fallbackRead: () => metrics.replicaFallbackReads.inc(),
            }),
        }
      : {}),
  });
  // Redis down at start: the first request or readiness check resolves the version.
  await versions.resolve().catch(() => undefined);
  const client = new FeatureClient({ versions, registry: features, maxBatch: options.maxBatch });
  const readiness = new ReadinessProbe({ redis: primary ?? redis, registry: features, prefix: options.keyPrefix, versions, watermarks, maxWatermarkAgeMs: options.readyMaxWatermarkAgeMs });
  const app = buildServingApp({
    client,
    readiness,
    metrics,
    explain: async (request) => {
      // the version readers follow right now, like the read path (one version per answer)
      const served = await versions.resolve();
      return explainUser(redis, served.registry, versionPrefix(options.keyPrefix, served.version), request, served.version);
    },
    logger: options.logLevel === 'silent' ? false : { level: options.logLevel },
    admin: {
      token: options.adminToken,
      routes: (scope) => {
        registerAdminRoutes(scope);
        extra.adminRoutes?.(scope);
      },
      ...(extra.adminOpenApi ? { openapi: extra.adminOpenApi } : {}),
    },
    openapi: OPS_OPENAPI_PATHS,
    routes: [
      (scope) =>
        registerOpsRoutes(scope, {
          providers: withProviders(defaultOpsProviders({ registry: features, watermarks, reportsDir: options.opsReportsDir }), [
            versionsOpsProvider(redis, options.keyPrefix),
            ...(extra.opsProviders ?? []),
          ]),
          scrapeUrls: options.opsScrapeUrls,
          reportsDir: options.opsReportsDir,
        }),
    ],
  });
  registerParityGauges(metrics.registry, options.opsReportsDir);
  const address = await app.listen({ host: options.host, port: options.port });
  return {
    app,
    url: address,
    client,
    metrics,
    close: async () => {
      await app.close();
      versions.stop();
      await redis.quit().catch(() => redis.disconnect());
      await primary?.quit().catch(() => primary.disconnect());
    },
  };
}
