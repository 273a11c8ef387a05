import type { Source } from '../events/index.ts';

export const AGGREGATIONS = ['count', 'sum', 'count_distinct', 'last', 'min', 'max'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

export const PREDICATE_OPS = ['eq', 'neq', 'in', 'not_in', 'gt', 'gte', 'lt', 'lte', 'exists'] as const;
export type PredicateOp = (typeof PREDICATE_OPS)[number];

/** One `filter.where` predicate on `attributes.<attribute>`. */
export interface Predicate {
  attribute: string;
  op: PredicateOp;
  value?: string | number | boolean;
  values?: ReadonlyArray<string | number>;
}

/** The `config.meta.feature` block as written in dbt YAML. */
export interface FeatureMeta {
  entity: 'user_id';
  source: Source;
  filter: { event_types: string[]; where?: Predicate[] };
  aggregation: { function: Aggregation; attribute?: string; scale?: number };
  window: string;
  granularity: string;
  freshness_slo: string;
  owner?: string;
  version?: number;
  description?: string;
}

/** A feature after validation: what both runtimes need, durations in milliseconds. */
export interface CompiledFeature {
  /** Column name in dbt; the feature's name everywhere. */
  name: string;
  /**
   * Short stable key of the feature's state inside Redis field names (hash of name and
   * version): a field name, not a version identity; it survives a registry change so that
   * online state is kept across deploys unless the feature's own version is bumped.
   */
  id: string;
  source: Source;
  eventTypes: readonly string[];
  where: readonly Predicate[];
  aggregation: Aggregation;
  attribute: string | null;
  /** Decimals kept by `sum` (fixed point). */
  scale: number;
  windowMs: number;
  granularityMs: number;
  freshnessSloMs: number;
  owner: string | null;
  version: number;
  /** The YAML file (relative to the dbt project) that declares the feature. */
  file: string;
  /** The dbt model whose column declares the feature. */
  model: string;
}

/**
 * The policies both runtimes apply, written once (the `config.meta.feature_policies` block of
 * the features model) and compiled into the registry artifact.
 */
export interface RegistryPolicies {
  /** An event whose ingest time exceeds its event time by more than this is too late. */
  allowedLatenessMs: number;
  /** Dedup entries live this much longer than the allowed lateness. */
  dedupMarginMs: number;
  /** allowedLatenessMs + dedupMarginMs: how long an event key is remembered for dedup. */
  dedupHorizonMs: number;
  /** A feature's window may hold at most this many tiles (window / granularity). */
  maxTilesPerWindow: number;
}

/** Every feature of the project plus the policies shared by both runtimes. */
export interface FeatureRegistry {
  /**
   * The one version identity of the registry: a hash of the normalized content (features,
   * policies, sources) and SEMANTICS_VERSION. Names the Redis functions, is the value of
   * `<prefix>:registry`, the dbt model meta `registry_version` and the parity report's
   * registry. See docs/feature-semantics.md.
   */
  version: string;
  policies: RegistryPolicies;
  features: readonly CompiledFeature[];
}
