import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { FeatureRegistry } from '../features/index.ts';
import { registryKey } from './redis-layout.ts';
import { functionNames, renderLuaProtocol } from './store-protocol.ts';

/** The Lua template: written against the constants of {@link renderLuaProtocol}, with no protocol letter of its own. */
export const LUA_TEMPLATE = readFileSync(new URL('./lua/churnfeat.lua', import.meta.url), 'utf8');

function luaString(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

/**
 * Renders the Redis Function library for a registry: the library name, the protocol
 * constants, the function names and the features the read path needs, then the template.
 */
export function renderFunctionLibrary(registry: FeatureRegistry): string {
  const names = functionNames(registry.version);
  const entries = registry.features.map(
    (f) => `{ id = ${luaString(f.id)}, name = ${luaString(f.name)}, fn = ${luaString(f.aggregation)}, g = ${f.granularityMs}, w = ${f.windowMs}, scale = ${f.scale} }`,
  );
  return [
    `#!lua name=${names.library}`,
    renderLuaProtocol(),
    `-- rendered from the feature registry ${registry.version}`,
    `local APPLY_FUNCTION = ${luaString(names.apply)}`,
    `local READ_FUNCTION = ${luaString(names.read)}`,
    `local REGISTRY = {\n  ${entries.join(',\n  ')}\n}`,
    '',
    LUA_TEMPLATE,
  ].join('\n');
}

/** Loads (or replaces) the library for this registry and records its version id under the prefix. */
export async function loadFunctionLibrary(redis: Redis, registry: FeatureRegistry, prefix: string): Promise<void> {
  await redis.call('FUNCTION', 'LOAD', 'REPLACE', renderFunctionLibrary(registry));
  await redis.set(registryKey(prefix), registry.version);
}
