import { describe, expect, it } from 'vitest';
import type { Predicate } from '../../../sidecar/src/features/index.ts';
import { featureInput, predicateHolds, toFixedPoint } from '../../../sidecar/src/windows/index.ts';
import { event } from '../../helpers/events.ts';
import { feature } from '../../helpers/registry.ts';

const p = (op: Predicate['op'], extra: Partial<Predicate> = {}): Predicate => ({ attribute: 'a', op, ...extra });

describe('filter predicates', () => {
  it('compares with strict equality: the string "1" is not the number 1', () => {
    expect(predicateHolds(p('eq', { value: 'E1' }), 'E1')).toBe(true);
    expect(predicateHolds(p('eq', { value: 1 }), '1')).toBe(false);
    expect(predicateHolds(p('neq', { value: 1 }), '1')).toBe(true);
    expect(predicateHolds(p('eq', { value: true }), true)).toBe(true);
    expect(predicateHolds(p('in', { values: ['a', 'b'] }), 'b')).toBe(true);
    expect(predicateHolds(p('in', { values: [1, 2] }), '2')).toBe(false);
    expect(predicateHolds(p('not_in', { values: ['a', 'b'] }), 'c')).toBe(true);
    expect(predicateHolds(p('not_in', { values: ['a', 'b'] }), 'a')).toBe(false);
  });

  it('orders numbers only: gt/gte/lt/lte fail on strings and booleans', () => {
    expect(predicateHolds(p('gt', { value: 5 }), 6)).toBe(true);
    expect(predicateHolds(p('gt', { value: 5 }), 5)).toBe(false);
    expect(predicateHolds(p('gte', { value: 5 }), 5)).toBe(true);
    expect(predicateHolds(p('lt', { value: 5 }), 4.9)).toBe(true);
    expect(predicateHolds(p('lte', { value: 5 }), 5)).toBe(true);
    expect(predicateHolds(p('gt', { value: 5 }), '6')).toBe(false);
    expect(predicateHolds(p('lte', { value: 5 }), true)).toBe(false);
  });

  it('treats a missing or null attribute as failing every predicate but neq and not_in', () => {
    for (const missing of [undefined, null]) {
      expect(predicateHolds(p('exists'), missing)).toBe(false);
      expect(predicateHolds(p('eq', { value: 'x' }), missing)).toBe(false);
      expect(predicateHolds(p('in', { values: ['x'] }), missing)).toBe(false);
      expect(predicateHolds(p('gt', { value: 0 }), missing)).toBe(false);
      expect(predicateHolds(p('lte', { value: 0 }), missing)).toBe(false);
      expect(predicateHolds(p('neq', { value: 'x' }), missing)).toBe(true);
      expect(predicateHolds(p('not_in', { values: ['x'] }), missing)).toBe(true);
    }
    expect(predicateHolds(p('exists'), 0)).toBe(true);
    expect(predicateHolds(p('exists'), '')).toBe(true);
  });
});

describe('what an event contributes to a feature', () => {
  it('rounds sums to fixed point as floor(v * 10^scale + 0.5)', () => {
    expect(toFixedPoint(30, 0)).toBe(30);
    expect(toFixedPoint(0.5, 0)).toBe(1);
    expect(toFixedPoint(2.5, 0)).toBe(3);
    expect(toFixedPoint(-0.5, 0)).toBe(0);
    expect(toFixedPoint(-1.5, 0)).toBe(-1);
    expect(toFixedPoint(9.99, 2)).toBe(999);
    expect(toFixedPoint(15.499, 2)).toBe(1550);
  });

  it('reads only its own source and event types, and all predicates must hold', () => {
    const f = feature({ name: 'errors', aggregation: 'count', eventTypes: ['playback_error'], where: [{ attribute: 'error_code', op: 'neq', value: 'E0' }] });
    expect(featureInput(f, event({ eventType: 'playback_error', attributes: { error_code: 'E1' } }))).toEqual({ kind: 'count' });
    expect(featureInput(f, event({ eventType: 'playback_error', attributes: {} }))).toEqual({ kind: 'count' });
    expect(featureInput(f, event({ eventType: 'playback_error', attributes: { error_code: 'E0' } }))).toBeNull();
    expect(featureInput(f, event({ eventType: 'playback_start', attributes: { error_code: 'E1' } }))).toBeNull();
    expect(featureInput(f, event({ eventType: 'playback_error', source: 'billing' }))).toBeNull();
  });

  it('takes numbers for sum, min and max and strings for count_distinct and last; anything else does not contribute', () => {
    const sum = feature({ name: 'watch', aggregation: 'sum', eventTypes: ['playback_heartbeat'], attribute: 'watched_seconds', scale: 1 });
    const hb = (value: unknown) => event({ eventType: 'playback_heartbeat', attributes: { watched_seconds: value } });
    expect(featureInput(sum, hb(30.25))).toEqual({ kind: 'sum', fixed: 303 });
    expect(featureInput(sum, hb('30'))).toBeNull();
    expect(featureInput(sum, hb(null))).toBeNull();
    expect(featureInput(sum, event({ eventType: 'playback_heartbeat' }))).toBeNull();

    const max = feature({ name: 'mx', aggregation: 'max', eventTypes: ['playback_heartbeat'], attribute: 'watched_seconds' });
    expect(featureInput(max, hb(45))).toEqual({ kind: 'max', number: 45, text: '45' });
    expect(featureInput(max, hb(true))).toBeNull();

    const distinct = feature({ name: 'titles', aggregation: 'count_distinct', attribute: 'content_id' });
    const start = (value: unknown) => event({ eventType: 'playback_start', attributes: { content_id: value } });
    expect(featureInput(distinct, start('t1'))).toEqual({ kind: 'count_distinct', text: 't1' });
    expect(featureInput(distinct, start(7))).toBeNull();

    const last = feature({ name: 'last_title', aggregation: 'last', attribute: 'content_id' });
    expect(featureInput(last, start('t9'))).toEqual({ kind: 'last', text: 't9' });
  });

  it('never reads an attribute through the prototype chain', () => {
    const distinct = feature({ name: 'titles', aggregation: 'count_distinct', attribute: 'content_id', where: [{ attribute: 'content_id', op: 'exists' }] });
    const inherited = Object.create({ content_id: 'from-prototype' }) as Record<string, unknown>;
    expect(featureInput(distinct, event({ eventType: 'playback_start', attributes: inherited }))).toBeNull();
    const toStringFeature = feature({ name: 'ts', aggregation: 'last', attribute: 'toString' });
    expect(featureInput(toStringFeature, event({ eventType: 'playback_start', attributes: {} }))).toBeNull();
  });
});
