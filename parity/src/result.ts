import type { MismatchClass } from './classify.ts';
import type { MismatchField } from './diff.ts';
import type { Distribution } from './report/distribution.ts';

/** One feature of one user that differs online and offline, and why. */
export interface MismatchRecord {
  userId: string;
  stratum: string;
  feature: string;
  field: MismatchField;
  online: { value: number | string | null; latestEventMs: number | null };
  offline: { value: number | string | null; latestEventMs: number | null };
  class: MismatchClass;
  explanation: string;
}

/** Per-feature outcome: how often it differs, why, and how its values are distributed. */
export interface FeatureSummary {
  name: string;
  source: string;
  aggregation: string;
  window: string;
  granularity: string;
  compared: number;
  mismatches: number;
  mismatchRate: number;
  byClass: Record<MismatchClass, number>;
  distribution: Distribution;
}

/** Everything one parity run found; written as report.json (and rendered as report.html). */
export interface ParityResult {
  status: 'pass' | 'fail';
  /** 0 when unexplained mismatches are within the threshold, else 1. */
  exitCode: 0 | 1;
  threshold: number;
  asOfMs: number;
  asOf: string;
  startedAt: string;
  finishedAt: string;
  warehouse: 'duckdb' | 'snowflake';
  keyPrefix: string;
  registry: { dbtVersion: string; onlineVersion: string; same: boolean };
  sample: {
    requested: number;
    population: number;
    sampled: number;
    seed: number;
    strata: Array<{ name: string; minEvents: number; maxEvents: number; population: number; sampled: number; users: string[] }>;
  };
  snapshot: {
    readStartedAt: string;
    readEndedAt: string;
    /** Whether the sidecar group's committed offsets bounded the offline events too. */
    committedOffsets: boolean;
    /** Whether the lake writer's manifests were checked for completeness. */
    lakeManifests: boolean;
    usersWithOnlineState: number;
    /** Users whose records of one source span several partitions (offset limits are per partition). */
    usersOnSeveralPartitions: number;
  };
  totals: {
    comparisons: number;
    mismatches: number;
    usersWithMismatch: number;
    byClass: Record<MismatchClass, number>;
    unexplained: number;
  };
  features: FeatureSummary[];
  /** The mismatches (at most `maxMismatchesListed`; totals count them all). */
  mismatches: MismatchRecord[];
  reports: { json: string; html: string };
}
