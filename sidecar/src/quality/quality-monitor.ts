import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { Redis } from 'ioredis';
import type { Admin, Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import type { NormalizedEvent } from '../events/index.ts';
import { ensureTopic } from '../kafka/index.ts';
import { logger } from '../logging.ts';
import { QualityMetrics } from './quality-metrics.ts';
import { VolumeDetector, type Detection, type HistorySnapshot, type Observation, type VolumeDetectorOptions } from './volume-detector.ts';

/** What the batch processor hands over after each batch. Never throws, never waits. */
export interface BatchObserver {
  observe(observations: Observation[]): void;
}

/** The data-quality topic of a namespace. */
export function dataQualityTopic(namespace: string): string {
  return `${namespace}.data-quality`;
}

/** An observation of a valid event (`duplicate`: the store had it already). */
export function eventObservation(event: NormalizedEvent, input: string, kind: 'event' | 'duplicate'): Observation {
  const platform = event.attributes['platform'];
  return { source: event.source, kind, eventType: event.eventType, platform: typeof platform === 'string' ? platform : null, eventMs: event.eventMs, arrivalMs: event.ingestMs, input };
}

/** An observation of a dead letter: only the Kafka timestamp is known. */
export function deadLetterObservation(source: string, kafkaTimestamp: string, input: string): Observation {
  const ms = Number(kafkaTimestamp);
  return { source, kind: 'invalid', eventType: null, platform: null, eventMs: ms, arrivalMs: ms, input };
}

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Where the detector's seasonal history survives a restart (see {@link RedisHistoryStore}). */
export interface HistoryStore {
  load(): Promise<HistorySnapshot | null>;
  save(snapshot: HistorySnapshot): Promise<void>;
}

/**
 * The history snapshot in one Redis string, gzip-compressed JSON (about 10 bytes per learnt
 * hour; the snapshot is bounded by MAX_SNAPSHOT_SERIES series of at most historyWeeks + 1
 * weeks of hours). The key (redis-layout.ts qualityHistoryKey) is shared by the instances of
 * a sidecar group: counts are per partition, so any instance's history serves all; the last
 * writer wins. No TTL: a stopped group finds its history when it comes back, and a history
 * older than historyWeeks + 1 weeks simply ages out of the baseline.
 */
export class RedisHistoryStore implements HistoryStore {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  async load(): Promise<HistorySnapshot | null> {
    const body = await this.redis.getBuffer(this.key);
    return body === null ? null : (JSON.parse((await gunzipAsync(body)).toString('utf8')) as HistorySnapshot);
  }

  async save(snapshot: HistorySnapshot): Promise<void> {
    // compressed on libuv's thread pool: the sidecar's loop only pays for the JSON text
    await this.redis.set(this.key, await gzipAsync(JSON.stringify(snapshot)));
  }
}

export interface QualityMonitorOptions {
  topic: string;
  /** Where the seasonal history is saved (each hour of the detector's clock and at shutdown) and restored from (on assignment). Default: none, a restart starts cold. */
  history?: HistoryStore;
  /** Wall-clock ms between two hourly saves at least: a backlog runs through event-time hours in seconds. Default 300000 (5 min). */
  minSaveIntervalMs?: number;
  /** Records waiting for the topic beyond this many are dropped (and counted). Default 1000. */
  maxQueued?: number;
  detector?: Partial<VolumeDetectorOptions>;
}

/**
 * The anomaly detector beside the pipeline: counts what each batch saw, publishes each
 * detection to the data-quality topic and into metrics. It never blocks or fails a batch:
 * an error while counting or publishing is a metric and a log line, and publishing runs in
 * the background with a bounded queue.
 */
export class QualityMonitor implements BatchObserver {
  readonly metrics: QualityMetrics;
  readonly detector: VolumeDetector;
  private readonly queue: Detection[] = [];
  private sending: Promise<void> | null = null;
  private lastClockMinute = -1;
  private lastSavedHour = -1;
  private lastSaveWallMs = 0;
  private lastErrorLog = 0;
  private restoring: Promise<void> | null = null;
  private restored = false;
  private saving: Promise<void> | null = null;

  constructor(
    private readonly producer: Producer | null,
    registry: Registry,
    private readonly options: QualityMonitorOptions,
  ) {
    this.metrics = new QualityMetrics(registry);
    this.detector = new VolumeDetector((d) => this.onDetection(d), options.detector);
  }

  /** Creates the data-quality topic if it is missing (one partition: a few records an hour). */
  static async ensureTopic(admin: Admin, topic: string): Promise<void> {
    await ensureTopic(admin, topic, 1);
  }

  /** The group gave this instance `assignment` (topic -> partitions): expectations follow its share of the traffic. */
  onAssignment(assignment: Record<string, number[]>, sourceOf: (topic: string) => string | undefined): void {
    if (!this.restored && this.options.history) this.restoring ??= this.restoreHistory(this.options.history);
    try {
      for (const [topic, partitions] of Object.entries(assignment)) {
        const source = sourceOf(topic);
        if (source !== undefined) this.detector.setAssignedPartitions(source, partitions.length);
      }
    } catch (error) {
      this.fail('observe', error);
    }
  }

  observe(observations: Observation[]): void {
    try {
      this.detector.observe(observations);
      const clock = this.detector.clockMs();
      const minute = Math.floor(clock / 60_000);
      if (Number.isFinite(clock) && minute !== this.lastClockMinute) {
        this.lastClockMinute = minute;
        this.metrics.clock.set(clock / 1000);
        this.metrics.coldStart.reset();
        for (const [source, count] of this.detector.coldSeries()) this.metrics.coldStart.set({ source }, count);
        const hour = Math.floor(minute / 60);
        // each hour of clock closes an hour of every series: that is when the history grows
        if (this.options.history && hour !== this.lastSavedHour && this.restored) {
          const now = Date.now();
          if (this.lastSavedHour >= 0 && now - this.lastSaveWallMs >= (this.options.minSaveIntervalMs ?? 300_000)) {
            this.lastSaveWallMs = now;
            void this.saveHistory();
          }
          this.lastSavedHour = hour;
        }
      }
    } catch (error) {
      this.fail('observe', error);
    }
  }

  /**
   * Takes the saved history (on the first assignment; after a failure, again on the next):
   * the series judge at once instead of a week of cold start. Until it succeeded nothing is
   * saved, so a failed restore never overwrites the saved history with a cold one.
   */
  private async restoreHistory(store: HistoryStore): Promise<void> {
    try {
      const snapshot = await store.load();
      const hours = snapshot === null ? 0 : this.detector.restore(snapshot);
      this.restored = true;
      logger.info({ code: 'quality_history_restored', hours, series: snapshot?.series.length ?? 0 }, `anomaly detector: restored ${hours} learnt hour(s) of seasonal history`);
    } catch (error) {
      this.fail('history', error);
    } finally {
      this.restoring = null;
    }
  }

  /** Saves the history in the background (never more than one save at a time); resolves when that save is done. */
  private saveHistory(): Promise<void> {
    const store = this.options.history;
    // never before the saved history was taken: a cold history would overwrite it
    if (!store || !this.restored) return Promise.resolve();
    if (this.saving) return this.saving;
    const saving = (async () => {
      try {
        await store.save(this.detector.snapshot());
      } catch (error) {
        this.fail('history', error);
      }
    })().finally(() => {
      this.saving = null;
    });
    this.saving = saving;
    return saving;
  }

  private fail(stage: 'observe' | 'publish' | 'history', error: unknown): void {
    this.metrics.errors.inc({ stage });
    const now = Date.now();
    if (now - this.lastErrorLog > 60_000) {
      this.lastErrorLog = now;
      logger.error({ code: 'quality_detector_failed', stage }, `anomaly detector ${stage} failed (the pipeline goes on): ${(error as Error).message}`);
    }
  }

  private onDetection(d: Detection): void {
    const labels = { kind: d.kind, series: d.where.series, source: d.where.source, event_type: d.where.event_type, platform: d.where.platform, severity: d.severity };
    if (d.state === 'firing') {
      this.metrics.detections.inc({ kind: d.kind, source: d.where.source, event_type: d.where.event_type, severity: d.severity });
      this.metrics.active.set(labels, 1);
      logger.warn({ code: 'data_quality_anomaly', kind: d.kind, where: d.where }, d.message);
    } else if (d.state === 'resolved') {
      this.metrics.active.remove(labels);
    }
    if (!this.producer) return;
    if (this.queue.length >= (this.options.maxQueued ?? 1000)) {
      this.queue.shift();
      this.metrics.dropped.inc();
    }
    this.queue.push(d);
    this.sending ??= this.drain().finally(() => {
      this.sending = null;
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, 100);
      try {
        await (this.producer as Producer).send({
          topic: this.options.topic,
          acks: -1,
          messages: batch.map((d) => ({ key: `${d.where.series}|${d.where.source}|${d.where.event_type}|${d.where.platform}`, value: JSON.stringify(d), headers: { 'churnfeat.kind': d.kind } })),
        });
        this.metrics.published.inc(batch.length);
      } catch (error) {
        this.fail('publish', error);
        this.metrics.dropped.inc(batch.length);
      }
    }
  }

  /** Waits for the records queued so far to be sent (shutdown, tests). */
  async flush(): Promise<void> {
    while (this.sending) await this.sending;
  }

  /** Waits for a restore in flight (tests). */
  async ready(): Promise<void> {
    if (this.restoring) await this.restoring;
  }

  /** Saves the history now and waits for it (shutdown): a restart then starts where this one stopped. */
  async persist(): Promise<void> {
    if (this.restoring) await this.restoring;
    while (this.saving) await this.saving;
    await this.saveHistory();
  }
}
