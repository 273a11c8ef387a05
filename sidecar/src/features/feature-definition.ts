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
  /** Short stable id used inside Redis field names (hash of name and version). */
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

/** Every feature of the project plus the policies shared by both runtimes. */
export interface FeatureRegistry {
  /** Hash of the compiled features: changes whenever any definition changes. */
  fingerprint: string;
  features: readonly CompiledFeature[];
}
