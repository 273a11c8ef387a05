import type { OpsDataProvider } from '../serving/index.ts';
import { oldestOpenAgeSeconds, type DeletionRegistry } from './deletion-registry.ts';
import { DELETION_STORES } from './deletion-request.ts';

/**
 * The "Open deletion requests" section of the operations page: one row per open request with
 * its age against the 72 h SLA and each store's state. No user id: the page is for operators,
 * and who asked to be forgotten is exactly what it must not show.
 */
export function deletionOpsProvider(deletions: DeletionRegistry): OpsDataProvider {
  return {
    id: 'deletions',
    title: 'Open deletion requests',
    async collect({ nowMs }) {
      const open = await deletions.open();
      const note = `${open.length} open; oldest ${(oldestOpenAgeSeconds(open, nowMs) / 3600).toFixed(1)} h (SLA 72 h, alert at 48 h); \`churnfeat delete status\` has the details`;
      if (open.length === 0) return { status: 'empty', note: 'no open request' };
      const rows = [...open]
        .sort((a, b) => Date.parse(a.received_at) - Date.parse(b.received_at))
        .map((r) => [
          r.request_id,
          r.received_at,
          Number(((nowMs - Date.parse(r.received_at)) / 3_600_000).toFixed(1)),
          ...DELETION_STORES.map((store) => `${r.stores[store].state}${r.stores[store].last_error ? ' (error)' : ''}`),
        ]);
      return { status: 'ok', note, table: { columns: ['request', 'received', 'age h', ...DELETION_STORES], rows } };
    },
  };
}
