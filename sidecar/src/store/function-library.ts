import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { FeatureRegistry } from '../features/index.ts';
import { functionNames, registryKey } from './redis-layout.ts';

const TEMPLATE = readFileSync(new URL('./lua/churnfeat.lua', import.meta.url), 'utf8');

/** Renders the Redis Function library for a registry (the read path needs each feature's window). */
export function renderFunctionLibrary(registry: FeatureRegistry): string {
  const entries = registry.features.map(
    (f) => `{ id = '${f.id}', name = '${f.name}', fn = '${f.aggregation}', g = ${f.granularityMs}, w = ${f.windowMs}, scale = ${f.scale} }`,
  );
  return TEMPLATE.replaceAll('__FP__', registry.version).replace('__REGISTRY__', `{\n  ${entries.join(',\n  ')}\n}`);
}

/** Loads (or replaces) the library for this registry and records its version id under the prefix. */
export async function loadFunctionLibrary(redis: Redis, registry: FeatureRegistry, prefix: string): Promise<void> {
  await redis.call('FUNCTION', 'LOAD', 'REPLACE', renderFunctionLibrary(registry));
  await redis.set(registryKey(prefix), registry.version);
  void functionNames;
}
