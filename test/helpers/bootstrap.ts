/** The bootstrap's unit-test setting: the project's registry, its operators, a writer that only builds calls, the state-build policy. */
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { FeatureWriter } from '../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../sidecar/src/windows/index.ts';

/** The dbt project's registry with what the bootstrap tests hold the state build to (the streaming apply calls). */
export function bootstrapSetting() {
  const registry = loadFeatureRegistry('dbt_project');
  const operators = new WindowOperators(registry);
  const { allowedLatenessMs, dedupMarginMs } = registry.policies;
  // never connected: the tests only take its apply calls (applyCalls) and run them on the store model
  const writer = new FeatureWriter(null as never, operators, { prefix: 't', allowedLatenessMs, dedupMarginMs, pruneAboveFields: 1_000_000 });
  const policy = { allowedLatenessMs, dedupMarginMs, oldestTile: (id: string, clock: number) => operators.tileBounds(clock).find((b) => b.featureId === id)?.oldestTile ?? 0 };
  return { registry, operators, allowedLatenessMs, dedupMarginMs, writer, policy };
}
