import type { Producer } from 'kafkajs';
import type { TopicNames } from '../kafka/index.ts';
import type { StreamRecord } from './event-stream.ts';

export interface KafkaSinkOptions {
  /** Acknowledgements asked of the broker: -1 all in-sync replicas, 1 the leader, 0 none. Default -1. */
  acks?: -1 | 0 | 1;
  /** sendBatch calls allowed in flight at once; more wait for one to finish. Default 4. */
  maxInFlight?: number;
}

/**
 * Produces load generator records to the source topics, keyed by user_id, with the
 * record's ingest time as the Kafka timestamp (as the ingestion edge does). Sends are
 * pipelined up to `maxInFlight`; the first failed send fails the next `write` or `flush`.
 */
export class KafkaSink {
  private readonly inFlight = new Set<Promise<void>>();
  private failure: unknown = null;
  private readonly acks: -1 | 0 | 1;
  private readonly maxInFlight: number;

  constructor(
    private readonly producer: Producer,
    private readonly topics: TopicNames,
    options: KafkaSinkOptions = {},
  ) {
    this.acks = options.acks ?? -1;
    this.maxInFlight = options.maxInFlight ?? 4;
  }

  async write(records: readonly StreamRecord[]): Promise<void> {
    this.throwIfFailed();
    while (this.inFlight.size >= this.maxInFlight) await Promise.race(this.inFlight);
    this.throwIfFailed();
    const byTopic = new Map<string, Array<{ key: string; value: Buffer; timestamp: string }>>();
    for (const record of records) {
      const topic = this.topics.sources[record.source];
      let list = byTopic.get(topic);
      if (!list) byTopic.set(topic, (list = []));
      list.push({ key: record.key, value: record.value, timestamp: String(record.ingestMs) });
    }
    const send = this.producer
      .sendBatch({ acks: this.acks, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) })
      .then(
        () => undefined,
        (error: unknown) => {
          this.failure ??= error;
        },
      )
      .finally(() => this.inFlight.delete(send));
    this.inFlight.add(send);
  }

  /** Waits for every send in flight; throws the first failure. */
  async flush(): Promise<void> {
    await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }
}
