import { median, medianAbsoluteDeviation } from 'simple-statistics';

const MINUTE_MS = 60_000;
const HOURS_PER_WEEK = 168;
/** MAD times this estimates a standard deviation (normal consistency constant). */
const MAD_TO_SIGMA = 1.4826;

const SERIES_KINDS: ReadonlySet<string> = new Set(['volume', 'source_total', 'duplicates', 'late', 'dead_letters']);

/** What the detector looks for; one Prometheus alert and one runbook section each (docs/data-quality.md). */
export const ANOMALY_KINDS = ['drop', 'spike', 'silent_source', 'duplicate_storm', 'late_surge', 'dead_letter_surge'] as const;
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];
export type Severity = 'warning' | 'critical';

/**
 * One record as the detector sees it. `kind`: a valid event seen for the first time
 * (`event`), a store duplicate (`duplicate`), or a dead letter (`invalid`; its event type,
 * platform and times are unknown, so `eventMs`/`arrivalMs` are the Kafka timestamp).
 */
export interface Observation {
  source: string;
  kind: 'event' | 'duplicate' | 'invalid';
  eventType: string | null;
  /** Client platform when the event says it (`attributes.platform`), else null. */
  platform: string | null;
  /** Event time (ms). */
  eventMs: number;
  /** Arrival time (ms): the event's ingest_ts. The detector's clock is built from it. */
  arrivalMs: number;
  /** Where it was read (`topic:partition`): the clock is the minimum over active inputs. */
  input: string;
  /** How many identical observations this stands for (the benchmark feeds counts). Default 1. */
  count?: number;
}

/** The series a detection is about. `platform` is `*` for the whole event type, `event_type` `*` for the whole source. */
export interface SeriesWhere {
  series: 'volume' | 'source_total' | 'duplicates' | 'late' | 'dead_letters';
  source: string;
  event_type: string;
  platform: string;
}

/** One detection (a record of the data-quality topic); `state` says whether it opens or closes. */
export interface Detection {
  schema: 'churnfeat.data_quality.v1';
  kind: AnomalyKind | 'cold_start';
  state: 'firing' | 'resolved' | 'cold';
  severity: Severity | 'info';
  where: SeriesWhere;
  /** Event-time window the figures are about (ISO 8601). */
  window: { start: string; end: string; minutes: number };
  baseline: { expected: number; median_per_minute: number; mad_per_minute: number; weeks: number; method: string } | null;
  observed: number;
  /** observed / expected (null when nothing was expected). */
  ratio: number | null;
  /** Robust score of the deviation (Anscombe-transformed count, scaled by the seasonal MAD). */
  score: number | null;
  /** The detector's event-time clock when it decided (ISO 8601). */
  detected_at: string;
  message: string;
}

export interface VolumeDetectorOptions {
  /** A minute is judged once the clock is this far past its end (late records within it still count). Default 30 s. */
  graceMs: number;
  /** An input (partition) with no record for this long (in clock time) no longer holds the clock back. Default 120 s. */
  idleInputMs: number;
  /** Weeks of same-hour-of-week history kept for the baseline. Default 4. */
  historyWeeks: number;
  /** Minutes of an hour that must have been seen in a past week for that week to count. Default 30. */
  minMinutesPerHour: number;
  /** Drop: observed at most this share of expected. Default 0.5. */
  dropRatio: number;
  /** Spike: observed at least this multiple of expected. Default 3. */
  spikeRatio: number;
  /** Minimum robust score for any detection. Default 4.5. */
  minScore: number;
  /** A detection fires after this many consecutive minutes, unless its score reaches {@link strongScore}. Default 2. */
  confirmMinutes: number;
  /** Score that fires at once, without waiting for {@link confirmMinutes}. Default 9. */
  strongScore: number;
  /** A firing detection resolves after this many consecutive normal minutes. Default 5. */
  resolveMinutes: number;
  /** Drops and silence are judged only where at least this many records were expected. Default 20. */
  minExpected: number;
  /** Spikes and surges need at least this many records observed. Default 20. */
  minSpikeCount: number;
  /** Floors of the expected duplicates / late records / dead letters, as a share of the source's expected volume. */
  surgeFloor: { duplicates: number; late: number; dead_letters: number };
}

export const DEFAULT_DETECTOR_OPTIONS = {
  graceMs: 30_000,
  idleInputMs: 120_000,
  historyWeeks: 4,
  minMinutesPerHour: 30,
  dropRatio: 0.5,
  spikeRatio: 3,
  minScore: 4.5,
  confirmMinutes: 2,
  strongScore: 9,
  resolveMinutes: 5,
  minExpected: 20,
  minSpikeCount: 20,
  surgeFloor: { duplicates: 0.02, late: 0.05, dead_letters: 0.01 },
} satisfies VolumeDetectorOptions;

/** Window lengths (minutes) tried at each minute: short ones catch large changes fast, long ones quiet series. */
const WINDOWS = [1, 2, 3, 5, 10, 15] as const;
const RING = 32;

interface HourSummary {
  median: number;
  mad: number;
  /** Variance beyond Poisson noise, relative to median²: the part of the spread that scales with the traffic. */
  excess: number;
}

interface ActiveState {
  kind: AnomalyKind;
  severity: Severity;
  normalMinutes: number;
}

interface Baseline {
  median: number;
  mad: number;
  excess: number;
  weeks: number;
}

interface Verdict {
  kind: AnomalyKind;
  window: number;
  expected: number;
  observed: number;
  score: number;
  baseline: Baseline;
}

/** One learnt hour of a series in a snapshot: [absolute hour since the epoch, median, MAD, excess], per partition. */
export type HistoryHour = [hour: number, median: number, mad: number, excess: number];

/**
 * The detector's learnt seasonal history (the only state a restart must not lose; open
 * minutes and firing detections are rebuilt within minutes), per series. Counts are per
 * partition, so a snapshot taken by one instance serves any other of the group.
 */
export interface HistorySnapshot {
  schema: 'churnfeat.quality_history.v1';
  /** The detector's clock when it was taken (ms). */
  taken_at_ms: number;
  series: Array<{ where: SeriesWhere; hours: HistoryHour[] }>;
}

/** A snapshot holds at most this many series (the busiest-named first are not preferred: series order), each at most (historyWeeks + 1) weeks of hours. */
export const MAX_SNAPSHOT_SERIES = 500;

/** One counted series: open minute buckets, the last closed minutes, and the hour-of-week history. */
class Series {
  readonly open = new Map<number, number>();
  readonly closed = new Float64Array(RING);
  readonly expected = new Float64Array(RING);
  readonly baselines: Array<Baseline | null> = new Array<Baseline | null>(RING).fill(null);
  readonly history = new Map<number, HourSummary>();
  hourCounts: number[] = [];
  /** Partitions read during the current hour. */
  hourShare = 1;
  hourAnomalousMinutes = 0;
  currentHour = -1;
  pending: { kind: AnomalyKind; minutes: number } | null = null;
  active: ActiveState | null = null;
  coldReported = false;
  cold = true;
  /** Windows start at or after this minute: the minutes of an anomaly just over never open another one. */
  excludeBefore = -Infinity;
  lastAnomalousMinute = -Infinity;
  private readonly baselineCache = new Map<number, Baseline | null>();

  /** Takes past hours from a snapshot; hours the series learnt itself are kept. */
  restore(hours: readonly HistoryHour[]): number {
    let taken = 0;
    for (const [hour, mid, mad, excess] of hours) {
      if (this.history.has(hour) || ![hour, mid, mad, excess].every(Number.isFinite)) continue;
      this.history.set(hour, { median: mid, mad, excess });
      taken += 1;
    }
    this.baselineCache.clear();
    return taken;
  }

  constructor(
    readonly id: string,
    readonly where: SeriesWhere,
  ) {}

  add(minute: number, count: number): void {
    this.open.set(minute, (this.open.get(minute) ?? 0) + count);
  }

  /** Sum of the last `w` closed minutes ending at `minute`. */
  sum(ring: Float64Array, minute: number, w: number): number {
    let total = 0;
    for (let m = minute - w + 1; m <= minute; m += 1) total += ring[((m % RING) + RING) % RING] as number;
    return total;
  }

  /** Whether each of the `w` closed minutes ending at `minute` had a baseline. */
  warmFor(minute: number, w: number): boolean {
    for (let m = minute - w + 1; m <= minute; m += 1) if (this.baselines[((m % RING) + RING) % RING] === null) return false;
    return true;
  }

  /** Median and MAD of the same hour of the week over the past weeks (median of each week's figures). */
  hourBaseline(hour: number, options: VolumeDetectorOptions): Baseline | null {
    if (this.baselineCache.has(hour)) return this.baselineCache.get(hour) as Baseline | null;
    const medians: number[] = [];
    const mads: number[] = [];
    const excesses: number[] = [];
    for (let k = 1; k <= options.historyWeeks; k += 1) {
      const past = this.history.get(hour - k * HOURS_PER_WEEK);
      if (past) {
        medians.push(past.median);
        mads.push(past.mad);
        excesses.push(past.excess);
      }
    }
    const baseline = medians.length === 0 ? null : { median: median(medians), mad: median(mads), excess: median(excesses), weeks: medians.length };
    if (this.baselineCache.size > 8) this.baselineCache.clear();
    this.baselineCache.set(hour, baseline);
    return baseline;
  }

  /** Closes an hour: its minutes become one week's figure for that hour of the week, unless it was mostly anomalous. */
  closeHour(options: VolumeDetectorOptions): void {
    if (this.currentHour >= 0 && this.hourCounts.length >= options.minMinutesPerHour && this.hourAnomalousMinutes < 10) {
      const mid = median(this.hourCounts);
      const mad = medianAbsoluteDeviation(this.hourCounts);
      // hourCounts are counts per partition: their Poisson variance is mid / share.
      const excess = mid > 0 ? Math.max(0, (MAD_TO_SIGMA * mad) ** 2 - mid / this.hourShare) / mid ** 2 : 0;
      this.history.set(this.currentHour, { median: mid, mad, excess });
    }
    const oldest = this.currentHour - (options.historyWeeks + 1) * HOURS_PER_WEEK;
    for (const hour of this.history.keys()) if (hour < oldest) this.history.delete(hour);
    this.hourCounts = [];
    this.hourAnomalousMinutes = 0;
  }
}

/** Anscombe's transform makes a Poisson count roughly normal with unit variance; scaled by the seasonal excess spread. */
function robustScore(observed: number, expected: number, excessVariance: number): number {
  const anscombe = 2 * (Math.sqrt(observed + 0.375) - Math.sqrt(expected + 0.375));
  return anscombe / Math.sqrt(1 + excessVariance / Math.max(expected, 1));
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Online volume anomaly detector on event time. Counts records per minute per series
 * (source x event type x platform, the source total, duplicates, late records, dead
 * letters); when the clock (minimum arrival time over the active inputs, less a grace)
 * passes a minute, judges each series against the same hour of the week in past weeks
 * (median and MAD of the per-minute counts, interpolated between hour centres) over
 * windows of 1 to 15 minutes. A series without a past week for the hour is in cold start:
 * it says so once and never alerts. Pure: no I/O, no wall clock; detections go to `emit`.
 */
export class VolumeDetector {
  readonly options: VolumeDetectorOptions;
  private readonly series = new Map<string, Series>();
  private readonly inputs = new Map<string, number>();
  private readonly sourcesSeen = new Set<string>();
  private readonly routes = new Map<string, Series[]>();
  /** Partitions of each source this instance reads (1 unless told): history is kept per partition. */
  private readonly assigned = new Map<string, Array<{ fromMinute: number; partitions: number }>>();
  /** Next minute to close; -1 before the first record. */
  private nextMinute = -1;
  private maxArrivalMs = -Infinity;
  /** The clock when the minutes being judged were closed. */
  private judgingAtMs = 0;

  constructor(
    private readonly emit: (detection: Detection) => void,
    options: Partial<VolumeDetectorOptions> = {},
  ) {
    this.options = { ...DEFAULT_DETECTOR_OPTIONS, ...options };
  }

  /**
   * How many partitions of `source` this instance reads. With several sidecars each sees only
   * its share of the traffic, and a rebalance changes the share: the history is kept per
   * partition (records are keyed by user, so partitions carry alike) and the expectation is
   * scaled by the current assignment, so a rebalance is not a drop or a spike.
   */
  setAssignedPartitions(source: string, partitions: number, fromMs = this.maxArrivalMs): void {
    // A few changes back are plenty: minutes older than the open ones are judged already.
    const changes = (this.assigned.get(source) ?? []).slice(-8);
    const last = changes[changes.length - 1];
    if (last?.partitions === partitions) return;
    changes.push({ fromMinute: Number.isFinite(fromMs) ? Math.floor(fromMs / MINUTE_MS) : -Infinity, partitions: Math.max(1, partitions) });
    this.assigned.set(source, changes);
  }

  private shareAt(source: string, minute: number): number {
    let share = 1;
    for (const change of this.assigned.get(source) ?? []) if (change.fromMinute <= minute) share = change.partitions;
    return share;
  }

  /** Event-time clock (ms): minutes ending before it minus the grace are judged. */
  clockMs(): number {
    let clock = Infinity;
    for (const last of this.inputs.values()) if (this.maxArrivalMs - last < this.options.idleInputMs) clock = Math.min(clock, last);
    return clock === Infinity ? this.maxArrivalMs : clock;
  }

  /** Series in cold start (no past week for the current hour of the week), per source. */
  coldSeries(): Map<string, number> {
    const out = new Map<string, number>();
    for (const s of this.series.values()) if (s.cold) out.set(s.where.source, (out.get(s.where.source) ?? 0) + 1);
    return out;
  }

  /**
   * The learnt history of every series (bounded: {@link MAX_SNAPSHOT_SERIES} series, each the
   * hours of the last historyWeeks + 1 weeks the detector keeps anyway), for persistence.
   */
  snapshot(): HistorySnapshot {
    const series: HistorySnapshot['series'] = [];
    for (const s of this.series.values()) {
      if (s.history.size === 0) continue;
      if (series.length >= MAX_SNAPSHOT_SERIES) break;
      const hours = [...s.history.entries()].sort(([a], [b]) => a - b).map(([hour, h]): HistoryHour => [hour, h.median, h.mad, h.excess]);
      series.push({ where: { ...s.where }, hours });
    }
    return { schema: 'churnfeat.quality_history.v1', taken_at_ms: Number.isFinite(this.maxArrivalMs) ? this.maxArrivalMs : 0, series };
  }

  /**
   * Takes the history of a snapshot (after a restart, or when another instance's partitions
   * are assigned here): series the detector has not learnt an hour of get it, so they judge at
   * once instead of a week of cold start. Hours a series learnt itself win. Hours older than
   * the kept history are dropped at the next hour close. Returns the hours taken.
   */
  restore(snapshot: HistorySnapshot): number {
    if (snapshot?.schema !== 'churnfeat.quality_history.v1' || !Array.isArray(snapshot.series)) return 0;
    let taken = 0;
    for (const { where, hours } of snapshot.series.slice(0, MAX_SNAPSHOT_SERIES)) {
      if (!SERIES_KINDS.has(where?.series) || !Array.isArray(hours)) continue;
      const s = this.get(where.series, String(where.source), String(where.event_type), String(where.platform));
      taken += s.restore(hours.slice(-(this.options.historyWeeks + 1) * HOURS_PER_WEEK));
    }
    return taken;
  }

  /** Currently firing detections, by series. */
  active(): Array<{ where: SeriesWhere; kind: AnomalyKind; severity: Severity }> {
    return [...this.series.values()].filter((s) => s.active).map((s) => ({ where: s.where, kind: (s.active as ActiveState).kind, severity: (s.active as ActiveState).severity }));
  }

  private get(series: SeriesWhere['series'], source: string, eventType: string, platform: string): Series {
    const id = `${series}|${source}|${eventType}|${platform}`;
    let found = this.series.get(id);
    if (!found) {
      found = new Series(id, { series, source, event_type: eventType, platform });
      this.series.set(id, found);
    }
    return found;
  }

  /** Counts one batch of observations, then judges every minute the clock has passed. */
  observe(observations: readonly Observation[]): void {
    for (const o of observations) this.count(o);
    this.advance();
  }

  private count(o: Observation): void {
    const n = o.count ?? 1;
    if (!this.sourcesSeen.has(o.source)) {
      this.sourcesSeen.add(o.source);
      // Created up front so their quiet minutes are counted as zeros (the baseline of a surge).
      for (const kind of ['source_total', 'duplicates', 'late', 'dead_letters'] as const) this.get(kind, o.source, '*', '*');
    }
    this.inputs.set(o.input, Math.max(this.inputs.get(o.input) ?? -Infinity, o.arrivalMs));
    this.maxArrivalMs = Math.max(this.maxArrivalMs, o.arrivalMs);
    if (this.nextMinute < 0) this.nextMinute = Math.floor(o.arrivalMs / MINUTE_MS);
    const arrivalMinute = Math.max(Math.floor(o.arrivalMs / MINUTE_MS), this.nextMinute);
    if (o.kind === 'invalid') {
      this.get('dead_letters', o.source, '*', '*').add(arrivalMinute, n);
      return;
    }
    if (o.kind === 'duplicate') {
      this.get('duplicates', o.source, '*', '*').add(arrivalMinute, n);
      return;
    }
    const eventMinute = Math.floor(o.eventMs / MINUTE_MS);
    if (eventMinute < this.nextMinute) {
      // Its minute was judged already: it counts as late data, where it arrived.
      this.get('late', o.source, '*', '*').add(arrivalMinute, n);
      return;
    }
    for (const s of this.routeOf(o)) s.add(eventMinute, n);
  }

  /** The series a valid event counts in (cached: this runs once per record). */
  private routeOf(o: Observation): Series[] {
    const key = `${o.source}\u0000${o.eventType}\u0000${o.platform}`;
    let route = this.routes.get(key);
    if (!route) {
      const type = o.eventType ?? '*';
      route = [this.get('source_total', o.source, '*', '*'), this.get('volume', o.source, type, '*')];
      if (o.platform !== null) route.push(this.get('volume', o.source, type, o.platform));
      this.routes.set(key, route);
    }
    return route;
  }

  private advance(): void {
    if (this.nextMinute < 0) return;
    const closeBefore = Math.floor((this.clockMs() - this.options.graceMs) / MINUTE_MS);
    // A clock that jumped far (a long idle, a replay from far back) skips ahead instead of judging empty hours.
    if (closeBefore - this.nextMinute > 6 * 60) this.nextMinute = closeBefore - 60;
    this.judgingAtMs = this.clockMs();
    while (this.nextMinute < closeBefore) {
      this.closeMinute(this.nextMinute);
      this.nextMinute += 1;
    }
  }

  private closeMinute(minute: number): void {
    const hour = Math.floor(minute / 60);
    const slot = ((minute % RING) + RING) % RING;
    for (const s of this.series.values()) {
      const share = this.shareAt(s.where.source, minute);
      if (hour !== s.currentHour) {
        s.closeHour(this.options);
        s.currentHour = hour;
      }
      const count = s.open.get(minute) ?? 0;
      s.open.delete(minute);
      s.closed[slot] = count;
      s.hourCounts.push(count / share);
      s.hourShare = share;
      const perPartition = this.minuteBaseline(s, minute);
      const baseline = perPartition ? { ...perPartition, median: perPartition.median * share, mad: perPartition.mad * share } : null;
      s.baselines[slot] = baseline;
      s.expected[slot] = baseline?.median ?? 0;
      for (const stale of s.open.keys()) if (stale < minute) s.open.delete(stale);
    }
    // Source totals first: a silent source explains every drop of its series.
    const silent = new Set<string>();
    const ordered = [...this.series.values()].sort((a, b) => Number(b.where.series === 'source_total') - Number(a.where.series === 'source_total'));
    for (const s of ordered) {
      if (s.where.series !== 'source_total' && silent.has(s.where.source) && s.where.series === 'volume') {
        this.settle(s, null, minute);
        s.excludeBefore = minute + 1;
        continue;
      }
      const verdict = this.judge(s, minute);
      if (s.where.series === 'source_total' && (verdict?.kind === 'silent_source' || s.active?.kind === 'silent_source')) silent.add(s.where.source);
      this.settle(s, verdict, minute);
    }
  }

  /** The per-minute baseline at `minute`: the hour's median, interpolated towards the neighbouring hour's. */
  private minuteBaseline(s: Series, minute: number): Baseline | null {
    const hour = Math.floor(minute / 60);
    const own = s.hourBaseline(hour, this.options);
    if (!own) return null;
    const position = ((minute % 60) + 0.5) / 60;
    const neighbour = s.hourBaseline(position < 0.5 ? hour - 1 : hour + 1, this.options);
    if (!neighbour) return own;
    const w = Math.abs(position - 0.5);
    return { median: (1 - w) * own.median + w * neighbour.median, mad: (1 - w) * own.mad + w * neighbour.mad, excess: (1 - w) * own.excess + w * neighbour.excess, weeks: own.weeks };
  }

  private judge(s: Series, minute: number): Verdict | null {
    const slot = ((minute % RING) + RING) % RING;
    const baseline = s.baselines[slot] ?? null;
    s.cold = baseline === null;
    if (baseline === null) {
      if (!s.coldReported) {
        s.coldReported = true;
        this.emit(this.record(s, 'cold_start', 'cold', 'info', minute, 1, null, 0, null, `no same-hour-of-week history yet for ${describe(s.where)}: judging starts after one week`));
      }
      return null;
    }
    const o = this.options;
    const excessPerMinute = baseline.excess * baseline.median ** 2;
    let best: Verdict | null = null;
    const consider = (v: Verdict): void => {
      if (!best || Math.abs(v.score) > Math.abs(best.score)) best = v;
    };
    const total = s.where.series === 'duplicates' || s.where.series === 'late' || s.where.series === 'dead_letters' ? this.get('source_total', s.where.source, '*', '*') : null;
    for (const w of WINDOWS) {
      // A window reaching back into the cold start has no full baseline: longer ones neither.
      if (minute - w + 1 < s.excludeBefore || !s.warmFor(minute, w) || (total !== null && !total.warmFor(minute, w))) break;
      const observed = s.sum(s.closed, minute, w);
      let expected = s.sum(s.expected, minute, w);
      const excess = excessPerMinute * w;
      if (s.where.series === 'volume' || s.where.series === 'source_total') {
        if (expected >= o.minExpected) {
          const score = robustScore(observed, expected, excess);
          if (observed === 0 && s.where.series === 'source_total' && -score >= o.minScore) consider({ kind: 'silent_source', window: w, expected, observed, score, baseline });
          else if (observed <= o.dropRatio * expected && -score >= o.minScore) consider({ kind: 'drop', window: w, expected, observed, score, baseline });
        }
        if (s.where.series === 'volume' && observed >= o.minSpikeCount && observed >= o.spikeRatio * Math.max(expected, 1)) {
          const score = robustScore(observed, Math.max(expected, 3), excess);
          if (score >= o.minScore) consider({ kind: 'spike', window: w, expected, observed, score, baseline });
        }
      } else if (total) {
        const floor = o.surgeFloor[s.where.series as keyof VolumeDetectorOptions['surgeFloor']] * total.sum(total.expected, minute, w);
        expected = Math.max(expected, floor);
        if (observed >= o.minSpikeCount && observed >= o.spikeRatio * Math.max(expected, 1)) {
          const score = robustScore(observed, Math.max(expected, 3), excess);
          const kind = s.where.series === 'duplicates' ? 'duplicate_storm' : s.where.series === 'late' ? 'late_surge' : 'dead_letter_surge';
          if (score >= o.minScore) consider({ kind, window: w, expected, observed, score, baseline });
        }
      }
    }
    return best;
  }

  /** Confirms, opens, keeps or resolves the series' detection after one judged minute. */
  private settle(s: Series, verdict: Verdict | null, minute: number): void {
    const o = this.options;
    if (s.active && verdict?.kind === 'silent_source' && s.active.kind !== 'silent_source') {
      // A drop that became silence: the silence is what the operator needs to hear about.
      s.active = null;
      s.pending = null;
    }
    if (s.active) {
      if (verdict && verdict.kind === s.active.kind) {
        s.active.normalMinutes = 0;
        s.lastAnomalousMinute = minute;
        s.hourAnomalousMinutes += 1;
        return;
      }
      s.active.normalMinutes += 1;
      s.hourAnomalousMinutes += 1;
      if (s.active.normalMinutes >= o.resolveMinutes) {
        const { kind, severity } = s.active;
        s.active = null;
        s.excludeBefore = s.lastAnomalousMinute + 1;
        s.pending = null;
        const observed = s.sum(s.closed, minute, o.resolveMinutes);
        const expected = s.sum(s.expected, minute, o.resolveMinutes);
        this.emit(
          this.record(
            s,
            kind,
            'resolved',
            severity,
            minute,
            o.resolveMinutes,
            null,
            observed,
            null,
            `${kind} on ${describe(s.where)} is over: ${o.resolveMinutes} normal minutes (observed ${observed}, expected ${expected.toFixed(1)})`,
            expected,
          ),
        );
      }
      return;
    }
    if (!verdict) {
      s.pending = null;
      return;
    }
    const minutes = s.pending?.kind === verdict.kind ? s.pending.minutes + 1 : 1;
    s.pending = { kind: verdict.kind, minutes };
    if (minutes < o.confirmMinutes && Math.abs(verdict.score) < o.strongScore) return;
    const ratio = verdict.expected > 0 ? verdict.observed / verdict.expected : null;
    const severity = severityOf(verdict.kind, ratio);
    s.active = { kind: verdict.kind, severity, normalMinutes: 0 };
    s.lastAnomalousMinute = minute;
    s.pending = null;
    s.hourAnomalousMinutes += minutes;
    const text = `${verdict.kind} on ${describe(s.where)}: ${verdict.observed} records in ${verdict.window} min, expected ${verdict.expected.toFixed(1)} (same hour of week, ${verdict.baseline.weeks} week(s))`;
    this.emit(this.record(s, verdict.kind, 'firing', severity, minute, verdict.window, verdict.baseline, verdict.observed, verdict.score, text, verdict.expected));
  }

  private record(
    s: Series,
    kind: Detection['kind'],
    state: Detection['state'],
    severity: Detection['severity'],
    minute: number,
    window: number,
    baseline: Baseline | null,
    observed: number,
    score: number | null,
    message: string,
    expected = 0,
  ): Detection {
    const endMs = (minute + 1) * MINUTE_MS;
    return {
      schema: 'churnfeat.data_quality.v1',
      kind,
      state,
      severity,
      where: s.where,
      window: { start: iso(endMs - window * MINUTE_MS), end: iso(endMs), minutes: window },
      baseline: baseline
        ? {
            expected: round(expected),
            median_per_minute: round(baseline.median),
            mad_per_minute: round(baseline.mad),
            weeks: baseline.weeks,
            method: 'same hour of week: median and MAD of per-minute counts',
          }
        : null,
      observed,
      ratio: expected > 0 ? round(observed / expected) : null,
      score: score === null ? null : round(score),
      detected_at: iso(Math.max(endMs + this.options.graceMs, this.judgingAtMs)),
      message,
    };
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function severityOf(kind: AnomalyKind, ratio: number | null): Severity {
  if (kind === 'silent_source') return 'critical';
  if (ratio === null) return 'warning';
  if (kind === 'drop') return ratio <= 0.3 ? 'critical' : 'warning';
  return ratio >= 5 ? 'critical' : 'warning';
}

function describe(where: SeriesWhere): string {
  const parts = [where.source];
  if (where.event_type !== '*') parts.push(where.event_type);
  if (where.platform !== '*') parts.push(where.platform);
  return `${where.series} ${parts.join('/')}`;
}
