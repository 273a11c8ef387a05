import { parseEvent, SOURCES, type Source } from '../events/index.ts';
import type { CompiledFeature, FeatureRegistry } from '../features/index.ts';
import { featureInput } from '../windows/index.ts';

/**
 * Canary users: one per (source, partition), e.g. `__canary__-client-3`. The prefix is
 * reserved: no real subscriber id starts with it, and every consumer of user-level data
 * (parity checks, CRM and training exports) must drop these ids (docs/serving.md).
 */
export const CANARY_USER_PREFIX = '__canary__';

export function canaryUserId(source: Source, partition: number): string {
  return `${CANARY_USER_PREFIX}-${source}-${partition}`;
}

export function isCanaryUser(userId: string): boolean {
  return userId.startsWith(CANARY_USER_PREFIX);
}

/** Attributes that make a valid event of each type the canary may send (see contracts/events). */
const PROBE_ATTRIBUTES: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  playback_error: { error_code: 'canary' },
  cancel_flow_view: {},
  plan_change_view: {},
  search: {},
  add_to_watchlist: {},
  payment_failed: { amount: 0, currency: 'XXX' },
  payment_retried: { amount: 0, currency: 'XXX' },
  ticket_created: { ticket_id: 'canary' },
  ticket_resolved: { ticket_id: 'canary' },
};

/** What the canary sends to a source, and the feature whose latest_event_ms shows it arrived. */
export interface ProbePlan {
  source: Source;
  eventType: string;
  attributes: Readonly<Record<string, unknown>>;
  /** A count feature without predicates that reads `eventType`; the longest window wins, so a late probe still shows. */
  feature: CompiledFeature;
}

/** The JSON bytes of one probe event: valid against the source's contract, event time = ingest time = `sentMs`. */
export function probeEventBytes(plan: ProbePlan, userId: string, sentMs: number, probeId: string): Buffer {
  const ts = new Date(sentMs).toISOString();
  return Buffer.from(
    JSON.stringify({
      event_id: probeId,
      user_id: userId,
      device_id: 'churnfeat-canary',
      event_type: plan.eventType,
      event_ts: ts,
      ingest_ts: ts,
      attributes: plan.attributes,
    }),
  );
}

/**
 * One probe plan per source that some feature reads. A candidate is accepted only when a
 * sample probe passes the real event parser and the feature's filter, so a contract or
 * registry change cannot make the canary send events the sidecar would drop.
 * Sources without a usable feature come back in `skipped` with the reason.
 */
export function planProbes(registry: FeatureRegistry): { plans: ProbePlan[]; skipped: Array<{ source: Source; reason: string }> } {
  const plans: ProbePlan[] = [];
  const skipped: Array<{ source: Source; reason: string }> = [];
  for (const source of SOURCES) {
    const features = registry.features.filter((f) => f.source === source);
    if (features.length === 0) continue;
    const candidates = features.filter((f) => f.aggregation === 'count' && f.where.length === 0).sort((a, b) => b.windowMs - a.windowMs);
    let chosen: ProbePlan | null = null;
    for (const feature of candidates) {
      for (const eventType of feature.eventTypes) {
        const attributes = PROBE_ATTRIBUTES[eventType];
        if (!attributes) continue;
        const plan: ProbePlan = { source, eventType, attributes, feature };
        const parsed = parseEvent(source, probeEventBytes(plan, canaryUserId(source, 0), Date.now(), 'canary-plan-check'));
        if (parsed.ok && featureInput(feature, parsed.event) !== null) {
          chosen = plan;
          break;
        }
      }
      if (chosen) break;
    }
    if (chosen) plans.push(chosen);
    else skipped.push({ source, reason: 'no count feature without predicates reads an event type the canary can send' });
  }
  return { plans, skipped };
}
