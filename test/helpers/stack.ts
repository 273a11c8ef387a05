/**
 * Where the local stack answers, and a namespace of its own for each test. Addresses come
 * from the CHURNFEAT_* variables scripts/stack/env.sh exports; unset, the defaults of the one
 * option table (COMMON_OPTIONS) apply, so no port is written here.
 */
import { randomBytes } from 'node:crypto';
import { COMMON_OPTIONS, resolveOptions, type SidecarOptions } from '../../sidecar/src/config/index.ts';
import { topicNames, type TopicNames } from '../../sidecar/src/kafka/index.ts';

function portOf(address: string | undefined): number {
  return Number(/:([0-9]+)\/?$/.exec(address ?? '')?.[1]);
}

/** Kafka bootstrap servers: CHURNFEAT_KAFKA_BROKERS, else the option table's default. */
export const BROKERS: string[] = process.env.CHURNFEAT_KAFKA_BROKERS ? process.env.CHURNFEAT_KAFKA_BROKERS.split(',') : [...COMMON_OPTIONS.brokers.default];
/** The shared Redis: CHURNFEAT_REDIS_URL, else the option table's default. */
export const REDIS_URL: string = process.env.CHURNFEAT_REDIS_URL || COMMON_OPTIONS.redisUrl.default;

/**
 * CHURNFEAT_REDIS_CLUSTER=true: REDIS_URL seeds a Redis Cluster (the `ha-cluster` test
 * project runs the correctness tests against the 3 masters of scripts/stack/ha.sh).
 */
export const REDIS_CLUSTER: boolean = /^(1|true)$/i.test(process.env.CHURNFEAT_REDIS_CLUSTER ?? '');

/** The stack's ports, as scripts/stack/env.sh sets them (Kafka and Redis default to the option table's addresses). */
export const STACK_PORTS = {
  kafka: Number(process.env.CHURNFEAT_KAFKA_PORT ?? portOf(COMMON_OPTIONS.brokers.default[0])),
  redis: Number(process.env.CHURNFEAT_REDIS_PORT ?? portOf(COMMON_OPTIONS.redisUrl.default)),
  s3: Number(process.env.CHURNFEAT_S3_PORT ?? 15000),
  fakesnow: Number(process.env.CHURNFEAT_FAKESNOW_PORT ?? 18080),
} as const;

/** The moto S3 endpoint of the stack. */
export const S3_ENDPOINT = process.env.CHURNFEAT_S3_ENDPOINT || `http://127.0.0.1:${STACK_PORTS.s3}`;

/** A namespace of its own for one test: topics, consumer group and Redis key prefix. */
export interface TestNamespace {
  id: string;
  topics: TopicNames;
  options: SidecarOptions;
}

/** A fresh random namespace; create its topics (cleaned up with the test) with createTestTopics (helpers/kafka.ts). */
export function testNamespace(overrides: Partial<SidecarOptions> = {}): TestNamespace {
  const id = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const options = resolveOptions({
    brokers: BROKERS,
    redisUrl: REDIS_URL,
    redisCluster: REDIS_CLUSTER,
    keyPrefix: id,
    topicNamespace: `test.${id}`,
    groupId: `${id}-sidecar`,
    clientId: `${id}-sidecar`,
    ...overrides,
  });
  return { id, topics: topicNames(options.topicNamespace), options };
}
