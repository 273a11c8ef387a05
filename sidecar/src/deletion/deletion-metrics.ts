import { Gauge, type Registry } from 'prom-client';
import { oldestOpenAgeSeconds, type DeletionRegistry } from './deletion-registry.ts';
import type { DeletionRecord } from './deletion-request.ts';

/** The SLA gauge's name (written literally at its registration too, where the dashboard test reads names): the alert ChurnfeatDeletionRequestOverdue fires at 48 h (docs/deletion.md). */
export const OLDEST_OPEN_METRIC = 'churnfeat_deletion_oldest_open_request_age_seconds';
const OPEN_METRIC = 'churnfeat_deletion_open_requests';
const HELP = 'Age of the oldest erasure request with a store still open (0: none open); the SLA is 72 h.';

/**
 * Registers the gauges on `registry`, read from the deletion registry at scrape time (cached
 * for `cacheMs`, so a scrape lists the open markers at most that often).
 */
export function registerDeletionGauges(registry: Registry, deletions: DeletionRegistry, cacheMs = 30_000, clock: () => number = Date.now): void {
  let cached: { at: number; open: DeletionRecord[] } | null = null;
  // A registry that cannot be read keeps the last value (a scrape never fails for it); the
  // alert on the gauge's age covers a registry unreadable for long.
  const open = async (): Promise<DeletionRecord[]> => {
    if (cached === null || clock() - cached.at > cacheMs) {
      try {
        cached = { at: clock(), open: await deletions.open() };
      } catch {
        return cached?.open ?? [];
      }
    }
    return cached.open;
  };
  new Gauge({
    name: 'churnfeat_deletion_oldest_open_request_age_seconds',
    help: HELP,
    registers: [registry],
    async collect() {
      this.set(oldestOpenAgeSeconds(await open(), clock()));
    },
  });
  new Gauge({
    name: 'churnfeat_deletion_open_requests',
    help: 'Erasure requests with a store still open.',
    registers: [registry],
    async collect() {
      this.set((await open()).length);
    },
  });
}

/** The same gauges as a Prometheus text exposition (`churnfeat delete status --prom`, for a textfile collector). */
export function deletionMetricsText(open: readonly DeletionRecord[], nowMs: number): string {
  return [
    `# HELP ${OLDEST_OPEN_METRIC} ${HELP}`,
    `# TYPE ${OLDEST_OPEN_METRIC} gauge`,
    `${OLDEST_OPEN_METRIC} ${oldestOpenAgeSeconds(open, nowMs)}`,
    `# HELP ${OPEN_METRIC} Erasure requests with a store still open.`,
    `# TYPE ${OPEN_METRIC} gauge`,
    `${OPEN_METRIC} ${open.length}`,
    '',
  ].join('\n');
}
