import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseRfc3339Ms } from '../../../sidecar/src/events/timestamp.ts';

const pad = (n: number, width: number) => String(Math.abs(n)).padStart(width, '0');

describe('parseRfc3339Ms', () => {
  it('equals Date.parse on every instant of years 0000 to 9999, in any offset and fraction length', () => {
    // A day of margin at both ends keeps the local time of any offset within 0000..9999.
    const instant = fc.integer({ min: Date.parse('0000-01-02T00:00:00Z'), max: Date.parse('9999-12-30T00:00:00Z') });
    const offset = fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 });
    fc.assert(
      fc.property(instant, offset, fc.integer({ min: 0, max: 9 }), fc.boolean(), (ms, offsetMinutes, digits, lower) => {
        const local = new Date(ms + offsetMinutes * 60_000);
        const zone = offsetMinutes === 0 && lower ? 'z' : `${offsetMinutes < 0 ? '-' : '+'}${pad(Math.trunc(offsetMinutes / 60), 2)}:${pad(offsetMinutes % 60, 2)}`;
        const fraction = digits === 0 ? '' : '.' + (pad(local.getUTCMilliseconds(), 3) + '123456').slice(0, digits);
        const text =
          `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1, 2)}-${pad(local.getUTCDate(), 2)}` +
          `${lower ? 't' : 'T'}${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}:${pad(local.getUTCSeconds(), 2)}` +
          fraction +
          zone;
        expect(parseRfc3339Ms(text)).toBe(Date.parse(text));
        expect(Number.isNaN(parseRfc3339Ms(text))).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads years before 100 as themselves, unlike Date.UTC', () => {
    expect(parseRfc3339Ms('0050-06-15T00:00:00Z')).toBe(Date.parse('0050-06-15T00:00:00Z'));
    expect(parseRfc3339Ms('0000-01-01T00:00:00Z')).toBe(-62_167_219_200_000);
  });

  it('accepts February 29th only in leap years', () => {
    expect(parseRfc3339Ms('2024-02-29T00:00:00Z')).toBe(Date.parse('2024-02-29T00:00:00Z'));
    expect(parseRfc3339Ms('2000-02-29T00:00:00Z')).toBe(Date.parse('2000-02-29T00:00:00Z'));
    expect(parseRfc3339Ms('1900-02-29T00:00:00Z')).toBeNaN();
    expect(parseRfc3339Ms('2023-02-29T00:00:00Z')).toBeNaN();
  });

  it('rejects strings outside the RFC 3339 profile that Date.parse would accept or roll over', () => {
    for (const text of [
      '2024-03-01T10:00:00',
      '2024-03-01 10:00:00Z',
      '2024-03-01T10:00:00+05',
      '2024-03-01T10:00:00+0530',
      '2024-03-01T10:00:00+24:00',
      '2024-03-01T10:00:00+05:60',
      '2024-03-01T10:00Z',
      '2024-03-01T10:00:00.Z',
      '2024-04-31T10:00:00Z',
      '2024-00-10T10:00:00Z',
      '2024-13-10T10:00:00Z',
      '2024-03-00T10:00:00Z',
      '2024-03-01T24:00:00Z',
      '2024-03-01T10:60:00Z',
      '2016-12-31T23:59:60Z',
      '+002024-03-01T10:00:00Z',
      ' 2024-03-01T10:00:00Z',
      '2024-03-01T10:00:00Z\n',
      '２０２４-03-01T10:00:00Z',
      '',
    ]) {
      expect(parseRfc3339Ms(text), text).toBeNaN();
    }
  });
});
