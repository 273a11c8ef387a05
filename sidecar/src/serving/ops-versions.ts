import type { Redis } from 'ioredis';
import { readActiveVersion, readCatalog, rollbackTarget } from '../store/index.ts';
import type { OpsDataProvider } from './ops-data.ts';

/** The operations page's "Feature versions" section: the alias, every catalog record, parity, the rollback target (docs/lifecycle.md). */
export function versionsOpsProvider(redis: Redis, prefix: string): OpsDataProvider {
  return {
    id: 'versions',
    title: 'Feature versions (active / shadow)',
    collect: async () => {
      const [active, records] = await Promise.all([readActiveVersion(redis, prefix), readCatalog(redis, prefix)]);
      if (records.size === 0) return { status: 'empty', note: 'no version registered yet (no sidecar has started with this prefix)' };
      const back = rollbackTarget({ active, records });
      const rows = [...records.values()]
        .sort((a, b) => a.registeredAt.localeCompare(b.registeredAt))
        .map((r) => [
          r.version,
          r.version === active ? 'active (served)' : r.version === back ? `${r.state} (rollback target)` : r.state,
          r.registry.features.length,
          r.parity === null ? 'not run' : `${r.parity.passed ? 'passed' : 'FAILED'}: ${r.parity.mismatches} of ${r.parity.sampleSize} at ${r.parity.at}`,
          r.registeredAt,
          r.activatedAt,
          r.retiredAt,
        ]);
      return {
        status: 'ok',
        note: `active: ${active ?? '(none)'}; rollback target: ${back ?? '(none)'}; \`churnfeat version audit\` lists every step`,
        table: { columns: ['version', 'state', 'features', 'parity', 'registered', 'activated', 'retired'], rows },
      };
    },
  };
}
