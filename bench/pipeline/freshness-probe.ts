import type { Producer } from 'kafkajs';
import type { Redis } from 'ioredis';
import { padToSize, prng, uuid } from '../../sidecar/src/loadgen/index.ts';
import type { FeatureRegistry } from '../../sidecar/src/features/index.ts';
import type { TopicNames } from '../../sidecar/src/kafka/index.ts';
import { latestEventField, userStateKey, versionPrefix } from '../../sidecar/src/store/redis-layout.ts';

export interface ProbeOptions {
  producer: Producer;
  redis: Redis;
  topics: TopicNames;
  keyPrefix: string;
  registry: FeatureRegistry;
  /** Distinguishes this run's probe users from every other run's. */
  tag: string;
  /** Probe events per second. */
  rate: number;
  /** Milliseconds between two reads of the outstanding probes (the resolution of the latencies). Default 10. */
  pollMs?: number;
  /** Size of a probe event in bytes (the same as the load's events). */
  size: number;
}

interface Outstanding {
  key: string;
  sentMs: number;
}

/**
 * Measures event -> readable directly: sends `playback_error` events with
 * event_ts = ingest_ts = now, each for a user of its own, into the same topic as the
 * load, and polls Redis until the feature state of that user shows the event (the
 * `e:<feature>` field the apply function sets when it counts the event). The latency of
 * a probe is (first read that sees it) - (the time written into event_ts), so it covers
 * produce, broker, fetch, the sidecar's batch and the Redis write; the polling interval
 * bounds its resolution.
 */
export class FreshnessProbe {
  readonly latenciesMs: number[] = [];
  private readonly outstanding = new Map<number, Outstanding>();
  private readonly field: string;
  private readonly rand = prng(0x9e37);
  private sent = 0;
  private sendErrors = 0;
  private sender: NodeJS.Timeout | null = null;
  private polling = false;
  private poller: Promise<void> | null = null;
  /** Probes sent before this time are not counted (warm-up). */
  private countFromMs = 0;

  constructor(private readonly options: ProbeOptions) {
    const feature = options.registry.features.find((f) => f.source === 'client' && f.eventTypes.includes('playback_error') && f.where.length === 0);
    if (!feature) throw new Error('freshness probe: no client feature counts playback_error without predicates');
    this.field = latestEventField(feature.id);
  }

  /** Starts sending probes; the ones sent in the first `warmupMs` are read but not counted. */
  start(warmupMs: number): void {
    this.countFromMs = Date.now() + warmupMs;
    this.sender = setInterval(() => void this.sendOne(), 1000 / this.options.rate);
    this.polling = true;
    this.poller = this.poll();
  }

  private async sendOne(): Promise<void> {
    const n = this.sent++;
    const user = `probe${this.options.tag}${n}`;
    const sentMs = Date.now();
    const ts = new Date(sentMs).toISOString();
    const event: Record<string, unknown> = {
      event_id: uuid(this.rand),
      user_id: user,
      device_id: `probe-${this.options.tag}`,
      event_type: 'playback_error',
      event_ts: ts,
      ingest_ts: ts,
      attributes: { error_code: 'E1001', content_id: 'title-1', platform: 'web' },
    };
    const value = padToSize(event, this.options.size, this.rand);
    this.outstanding.set(n, { key: userStateKey(versionPrefix(this.options.keyPrefix, this.options.registry.version), user), sentMs });
    try {
      await this.options.producer.send({ topic: this.options.topics.sources.client, acks: -1, messages: [{ key: user, value, timestamp: String(sentMs) }] });
    } catch {
      this.sendErrors += 1;
      this.outstanding.delete(n);
    }
  }

  private async poll(): Promise<void> {
    const pollMs = this.options.pollMs ?? 10;
    while (this.polling || this.outstanding.size > 0) {
      const entries = [...this.outstanding].slice(0, 500);
      if (entries.length > 0) {
        const pipe = this.options.redis.pipeline();
        for (const [, probe] of entries) pipe.hget(probe.key, this.field);
        const replies = (await pipe.exec()) ?? [];
        const now = Date.now();
        entries.forEach(([n, probe], i) => {
          if (replies[i]?.[1] !== null && replies[i]?.[1] !== undefined) {
            this.outstanding.delete(n);
            if (probe.sentMs >= this.countFromMs) this.latenciesMs.push(now - probe.sentMs);
          }
        });
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** Stops sending, waits up to `timeoutMs` for the outstanding probes; returns how many never showed up. */
  async stop(timeoutMs: number): Promise<{ sent: number; unresolved: number; sendErrors: number }> {
    if (this.sender) clearInterval(this.sender);
    const deadline = Date.now() + timeoutMs;
    while (this.outstanding.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const unresolved = this.outstanding.size;
    this.outstanding.clear();
    this.polling = false;
    await this.poller;
    return { sent: this.sent, unresolved, sendErrors: this.sendErrors };
  }
}
