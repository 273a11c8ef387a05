/** Value distribution of one feature online and offline, for the report's charts. */
export type Distribution =
  | { kind: 'numeric'; bins: Array<{ label: string; lo: number; hi: number; online: number; offline: number }>; nulls: { online: number; offline: number } }
  | { kind: 'categorical'; categories: Array<{ label: string; online: number; offline: number }>; nulls: { online: number; offline: number } };

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toPrecision(4).replace(/\.?0+$/, '');
}

/**
 * Histogram of online and offline values over the same bins: one bin per integer when the
 * values are integers spanning at most `maxBins`, else `maxBins` equal-width bins; text
 * values become their `maxBins - 1` most common labels plus "other".
 */
export function distributionOf(online: ReadonlyArray<number | string | null>, offline: ReadonlyArray<number | string | null>, maxBins = 12): Distribution {
  const nulls = { online: online.filter((v) => v === null).length, offline: offline.filter((v) => v === null).length };
  const values = [...online, ...offline].filter((v): v is number | string => v !== null);
  if (values.some((v) => typeof v === 'string')) {
    const counts = new Map<string, number>();
    for (const value of values) counts.set(String(value), (counts.get(String(value)) ?? 0) + 1);
    const top = [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, maxBins - 1)
      .map(([label]) => label);
    const label = (v: number | string): string => (top.includes(String(v)) ? String(v) : 'other');
    const labels = counts.size > top.length ? [...top, 'other'] : top;
    const count = (list: ReadonlyArray<number | string | null>, l: string): number => list.filter((v) => v !== null && label(v) === l).length;
    return { kind: 'categorical', categories: labels.map((l) => ({ label: l, online: count(online, l), offline: count(offline, l) })), nulls };
  }
  const numbers = values as number[];
  if (numbers.length === 0) return { kind: 'numeric', bins: [], nulls };
  const min = Math.min(...numbers);
  const max = Math.max(...numbers);
  const integers = numbers.every(Number.isInteger);
  let edges: Array<[number, number]>;
  if (integers && max - min + 1 <= maxBins) {
    edges = Array.from({ length: max - min + 1 }, (_, i) => [min + i, min + i]);
  } else if (integers) {
    // Whole-number bins [lo, lo + width - 1]: counts and sums never get fractional edges.
    const width = Math.ceil((max - min + 1) / maxBins);
    edges = Array.from({ length: Math.ceil((max - min + 1) / width) }, (_, i) => [min + i * width, Math.min(max, min + (i + 1) * width - 1)]);
  } else {
    const width = (max - min) / maxBins || 1;
    edges = Array.from({ length: maxBins }, (_, i) => [min + i * width, i === maxBins - 1 ? max : min + (i + 1) * width]);
  }
  const binOf = (v: number): number => {
    const index = integers ? edges.findIndex(([lo, hi]) => v >= lo && v <= hi) : edges.findIndex(([lo, hi], i) => v >= lo && (v < hi || (i === edges.length - 1 && v <= hi)));
    return index < 0 ? edges.length - 1 : index;
  };
  const bins = edges.map(([lo, hi]) => ({ label: lo === hi ? formatNumber(lo) : `${formatNumber(lo)}–${formatNumber(hi)}`, lo, hi, online: 0, offline: 0 }));
  for (const v of online) if (typeof v === 'number') (bins[binOf(v)] as (typeof bins)[number]).online += 1;
  for (const v of offline) if (typeof v === 'number') (bins[binOf(v)] as (typeof bins)[number]).offline += 1;
  return { kind: 'numeric', bins, nulls };
}
