import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';

/** Where and how to reach Redis: the URL (rediss:// for TLS, user:password@ for an ACL user) and a private CA. */
export interface RedisConnection {
  readonly redisUrl: string;
  /** PEM file of the CA of Redis's certificate; '' or absent = the system CAs. */
  readonly redisTlsCa?: string;
}

/** The TLS settings of a connection, or undefined for plain TCP (a redis:// URL). */
export function redisTlsOptions(connection: RedisConnection): RedisOptions['tls'] {
  if (!/^rediss:\/\//i.test(connection.redisUrl)) return undefined;
  const ca = connection.redisTlsCa ? readFileSync(connection.redisTlsCa) : undefined;
  return ca === undefined ? {} : { ca };
}

/**
 * The one place a Redis client is made: every service passes its options here, so TLS, the
 * CA and the ACL user work the same everywhere. `options` are the caller's ioredis settings
 * (timeouts, retries); the URL's credentials never appear in what this module throws.
 */
export function createRedisClient(connection: RedisConnection, options: RedisOptions = {}): Redis {
  const tls = redisTlsOptions(connection);
  return new Redis(connection.redisUrl, tls === undefined ? options : { ...options, tls });
}
