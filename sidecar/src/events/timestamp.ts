/**
 * The RFC 3339 profile accepted for `event_ts` and `ingest_ts`: `YYYY-MM-DDTHH:MM:SS`, an
 * optional fraction, and `Z` or a `+hh:mm`/`-hh:mm` offset (`T` and `Z` in either case).
 * Stricter than ajv-formats' `date-time` (which also takes `+05`, `+0530` and leap
 * seconds) and than `Date.parse` (which rolls 2024-02-30 over to March 1st).
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;
const MS_PER_DAY = 86_400_000;

/**
 * Epoch milliseconds (UTC) of an RFC 3339 date-time in the profile above, or `NaN` when the
 * string is outside it or names no real instant (February 30th, hour 24, second 60).
 * Digits past the millisecond are truncated, as `Date.parse` does; on every string this
 * accepts the result equals `Date.parse(value)`.
 */
export function parseRfc3339Ms(value: string): number {
  const m = RFC3339.exec(value);
  if (m === null) return Number.NaN;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return Number.NaN;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const monthDays = month === 2 && leap ? 29 : (DAYS_IN_MONTH[month] as number);
  if (day > monthDays) return Number.NaN;
  const fraction = m[7];
  const millis = fraction === undefined ? 0 : Number((fraction + '00').slice(0, 3));
  let offsetMinutes = 0;
  if (m[8] !== undefined) {
    const offsetHour = Number(m[9]);
    const offsetMinute = Number(m[10]);
    if (offsetHour > 23 || offsetMinute > 59) return Number.NaN;
    offsetMinutes = (m[8] === '-' ? -1 : 1) * (offsetHour * 60 + offsetMinute);
  }
  return daysFromCivil(year, month, day) * MS_PER_DAY + ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 + millis;
}

/**
 * Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
 * Used instead of `Date.UTC`, which maps years 0-99 to 1900-1999.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}
