import type { Admin, Kafka, Producer } from 'kafkajs';
import { LocalDedup } from '../../sidecar/src/dedup/index.ts';
import type { Redis } from 'ioredis';
import { DEFAULT_OPTIONS } from '../../sidecar/src/config/index.ts';
import type { FeatureRegistry } from '../../sidecar/src/features/index.ts';
import { topicNames } from '../../sidecar/src/kafka/index.ts';
import { EventStream, type StreamRecord } from '../../sidecar/src/loadgen/index.ts';
import { PipelineMetrics } from '../../sidecar/src/metrics/index.ts';
import { BatchProcessor, type SourceRecord } from '../../sidecar/src/pipeline/index.ts';
import { FeatureReader, FeatureWriter, functionNames, loadFunctionLibrary, userHeadKey, userStateKey, versionPrefix } from '../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../sidecar/src/windows/index.ts';
import { commandMicros, redisDelta, snapshot, userMemory, type UserMemory } from './redis-stats.ts';
import { heapAfterGc } from '../common/cli.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface DauMemoryOptions {
  redis: Redis;
  registry: FeatureRegistry;
  keyPrefix: string;
  seed: number;
  users: number;
  days: number;
  /** Events each active user sends per day (the seed's 120K/s average over 6M DAU is 1,728). */
  eventsPerUserDay: number;
  /** Hours of the day the users are active (their events are spread evenly over them). */
  activeHours: number;
  /** EventStreamOptions.ownTitleShare: 0 gives every play a title of its own (worst case for distinct_titles_last_7d). */
  ownTitleShare: number;
  onDay?: (day: number, memory: DauMemoryResult['byDay'][number]) => void;
  /** Who decides duplicates (the sidecar's --dedup): the store (default) or the sidecar's partition index. */
  dedup?: 'redis' | 'local';
}

export interface DauMemoryResult {
  users: number;
  days: number;
  eventsPerUserDay: number;
  activeHours: number;
  ownTitleShare: number;
  events: number;
  cpuSeconds: number;
  /**
   * One feature read (FeatureReader: FCALL_RO of the read function, one user) on these
   * users' state at the end of the simulation: Redis CPU per read, which sizes Redis for
   * the scoring service's 20K reads/s.
   */
  reads: {
    count: number;
    redisCpuMicrosPerRead: number;
    redisCpuMicrosPerHgetall: number;
    /** The same reads by the read function that builds the JSON answer in Lua (cf_read, the serving path's read of store protocol 5). */
    redisCpuMicrosPerJsonRead: number;
    /** The floor of any read: HGET of one field (the layout mark) of the same users, pipelined alike. */
    redisCpuMicrosPerHget: number;
    /** GET of the users' read heads (store protocol 7), pipelined alike: the floor of a head read. */
    redisCpuMicrosPerHeadGet: number;
    /** Mean length of the users' read heads (characters). */
    headBytesPerUser: number;
    /** INFO commandstats per read: the microseconds inside each command (FCALL_RO includes its HMGETs) and the calls. */
    commandstats: Record<string, { microsPerRead: number; callsPerRead: number }>;
  };
  /**
   * Memory at the end of each simulated day, and what Redis spent per event that day:
   * the cost of the apply function on state of realistic size (hashes of ~250 fields,
   * dedup sets of ~1,700 members), which a short throughput run with fresh users does not see.
   */
  /** --dedup local: the sidecar's index at the end (heap bytes measured by dropping it) and its changelog. */
  localDedup: {
    members: number;
    users: number;
    entryBytes: number;
    heapBytes: number;
    heapBytesPerMember: number;
    changelogRecords: number;
    changelogBytes: number;
    changelogBytesPerEvent: number;
  } | null;
  byDay: Array<
    {
      day: number;
      redisCpuMicrosPerEvent: number;
      redisCommandsPerEvent: number;
      redisCallsPerEvent: number;
      /** INFO commandstats per applied event: calls and wall-clock µs inside each command (FCALL includes the commands it runs). */
      commandsPerEvent: Record<string, { calls: number; micros: number }>;
    } & UserMemory
  >;
}

/**
 * The steady state of a daily active user, built through the sidecar's own code: the
 * BatchProcessor (parse, relevance, lateness, window operators) and the FeatureWriter's
 * Redis function, fed in Kafka-sized batches with a virtual clock that runs `days` days,
 * each user sending `eventsPerUserDay` events in the evening. Kafka is left out (dead
 * letters go nowhere): the state in Redis is what the sidecar would have written. Redis
 * expiry runs on the real clock, so nothing expires during the simulation; dedup
 * pruning and tile pruning run on the virtual clock, as they would in production.
 */
export async function simulateDauMemory(options: DauMemoryOptions): Promise<DauMemoryResult> {
  const { redis, registry, keyPrefix } = options;
  await loadFunctionLibrary(redis, registry, keyPrefix);
  const operators = new WindowOperators(registry);
  const writer = new FeatureWriter(redis, operators, {
    prefix: keyPrefix,
    allowedLatenessMs: registry.policies.allowedLatenessMs,
    dedupMarginMs: registry.policies.dedupMarginMs,
    pruneAboveFields: DEFAULT_OPTIONS.pruneAboveFields,
  });
  const changelog = { records: 0, bytes: 0 };
  const noProducer = {
    send: async ({ messages }: { messages: Array<{ value: Buffer }> }) => {
      changelog.records += messages.length;
      changelog.bytes += messages.reduce((sum, m) => sum + m.value.length, 0);
      return [];
    },
  } as unknown as Producer;
  const topics = topicNames(`${keyPrefix}.sim`);
  const metrics = new PipelineMetrics();
  const local =
    options.dedup === 'local'
      ? new LocalDedup({} as Kafka, {} as Admin, noProducer, metrics.registry, {
          allowedLatenessMs: registry.policies.allowedLatenessMs,
          dedupMarginMs: registry.policies.dedupMarginMs,
          changelogRetentionMs: 0,
          groupId: '',
        })
      : null;
  for (const source of ['client', 'billing', 'support'] as const) local?.adopt(topics.sources[source], 0);
  const processor = new BatchProcessor(operators, writer, noProducer, topics, metrics, {
    allowedLatenessMs: registry.policies.allowedLatenessMs,
    maxPayloadBytes: DEFAULT_OPTIONS.maxPayloadBytes,
    localDedup: local,
  });
  const stream = new EventStream({ seed: options.seed, users: options.users, hotUsers: 0, userSkew: 1, size: 600, invalidShare: 0, ownTitleShare: options.ownTitleShare });
  const offsets = { client: 0, billing: 0, support: 0 };
  const start = Math.floor(Date.now() / DAY) * DAY - options.days * DAY;
  const perDay = options.users * options.eventsPerUserDay;
  const span = options.activeHours * HOUR;
  const byDay: DauMemoryResult['byDay'] = [];
  const cpu0 = process.cpuUsage();
  let events = 0;
  for (let day = 0; day < options.days; day++) {
    const from = start + day * DAY + (24 * HOUR - span);
    const before = await snapshot(redis);
    const usecBefore = await commandMicros(redis);
    const eventsBefore = events;
    for (let i = 0; i < perDay; i += 1_000) {
      const chunk: StreamRecord[] = [];
      for (let j = i; j < Math.min(perDay, i + 1_000); j++) chunk.push(stream.next(Math.floor(from + (j * span) / perDay)));
      events += chunk.length;
      for (const source of ['client', 'billing', 'support'] as const) {
        const records: SourceRecord[] = chunk
          .filter((r) => r.source === source)
          .map((r) => ({ topic: topics.sources[source], partition: 0, offset: String(offsets[source]++), timestamp: String(r.ingestMs), key: Buffer.from(r.key), value: r.value }));
        if (records.length > 0) await processor.process(source, records);
        // as the sidecar does before each commit: the batch's additions to the changelog, then the index
        if (records.length > 0) await local?.persist(topics.sources[source], 0);
      }
    }
    const usecDay = await commandMicros(redis);
    const redisDay = redisDelta(before, await snapshot(redis));
    const dayEvents = events - eventsBefore;
    const commandsPerEvent: Record<string, { calls: number; micros: number }> = {};
    for (const [command, calls] of Object.entries(redisDay.byCommand)) {
      if (command === 'info') continue;
      const micros = (usecDay.get(command) ?? 0) - (usecBefore.get(command) ?? 0);
      commandsPerEvent[command] = { calls: Math.round((calls * 1000) / dayEvents) / 1000, micros: Math.round((micros * 100) / dayEvents) / 100 };
    }
    const memory = await userMemory(redis, keyPrefix, options.users);
    byDay.push({
      day: day + 1,
      redisCpuMicrosPerEvent: Math.round((redisDay.cpuSeconds * 1e8) / dayEvents) / 100,
      redisCommandsPerEvent: Math.round((redisDay.allCalls * 100) / dayEvents) / 100,
      redisCallsPerEvent: Math.round((redisDay.topLevelCalls * 1000) / dayEvents) / 1000,
      commandsPerEvent,
      ...memory,
    });
    options.onDay?.(day + 1, byDay[byDay.length - 1] as DauMemoryResult['byDay'][number]);
  }
  const cpu = process.cpuUsage(cpu0);
  let localDedup: DauMemoryResult['localDedup'] = null;
  if (local) {
    const indexes = (['client', 'billing', 'support'] as const).map((s) => local.indexOf(topics.sources[s], 0)).filter((i) => i !== undefined);
    const members = indexes.reduce((sum, i) => sum + i.members, 0);
    const users = indexes.reduce((sum, i) => sum + i.size, 0);
    const entryBytes = indexes.reduce((sum, i) => sum + i.entryBytes, 0);
    indexes.length = 0;
    const withIndex = heapAfterGc();
    local.onAssigned({});
    const heapBytes = withIndex - heapAfterGc();
    localDedup = {
      members,
      users,
      entryBytes,
      heapBytes,
      heapBytesPerMember: Math.round((heapBytes * 100) / members) / 100,
      changelogRecords: changelog.records,
      changelogBytes: changelog.bytes,
      changelogBytesPerEvent: Math.round((changelog.bytes * 100) / events) / 100,
    };
  }
  const reader = new FeatureReader(redis, registry, keyPrefix);
  const userIds = Array.from({ length: options.users }, (_, i) => `u${String(i).padStart(8, '0')}`);
  const asOf = start + options.days * DAY;
  const rounds = Math.max(1, Math.ceil(5_000 / userIds.length));
  const readBefore = await snapshot(redis);
  const usecBefore = await commandMicros(redis);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < userIds.length; i += 20) await reader.readMany(userIds.slice(i, i + 20), asOf);
  }
  const usecAfter = await commandMicros(redis);
  const readDelta = redisDelta(readBefore, await snapshot(redis));
  const reads = rounds * userIds.length;
  const commandstats: DauMemoryResult['reads']['commandstats'] = {};
  for (const [command, calls] of Object.entries(readDelta.byCommand)) {
    if (command === 'info') continue;
    const micros = (usecAfter.get(command) ?? 0) - (usecBefore.get(command) ?? 0);
    commandstats[command] = { microsPerRead: Math.round((micros * 100) / reads) / 100, callsPerRead: Math.round((calls * 100) / reads) / 100 };
  }
  // The same state fetched raw (what a reader that aggregates in the serving process would ask for).
  const rawBefore = await snapshot(redis);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < userIds.length; i += 20) {
      const pipe = redis.pipeline();
      for (const user of userIds.slice(i, i + 20)) pipe.hgetall(userStateKey(versionPrefix(keyPrefix, registry.version), user));
      await pipe.exec();
    }
  }
  const rawDelta = redisDelta(rawBefore, await snapshot(redis));
  // the version's keyspace, where the writer put the state (the two reads below once read the
  // base prefix, where no key exists: they measured an empty read)
  const keyspace = versionPrefix(keyPrefix, registry.version);
  const jsonRead = functionNames(registry.version).read;
  const jsonBefore = await snapshot(redis);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < userIds.length; i += 20) {
      const pipe = redis.pipeline();
      for (const user of userIds.slice(i, i + 20)) pipe.call('FCALL_RO', jsonRead, 1, userStateKey(keyspace, user), String(asOf));
      await pipe.exec();
    }
  }
  const jsonDelta = redisDelta(jsonBefore, await snapshot(redis));
  const hgetBefore = await snapshot(redis);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < userIds.length; i += 20) {
      const pipe = redis.pipeline();
      for (const user of userIds.slice(i, i + 20)) pipe.hget(userStateKey(keyspace, user), 'v');
      await pipe.exec();
    }
  }
  const hgetDelta = redisDelta(hgetBefore, await snapshot(redis));
  const getBefore = await snapshot(redis);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < userIds.length; i += 20) {
      const pipe = redis.pipeline();
      for (const user of userIds.slice(i, i + 20)) pipe.get(userHeadKey(keyspace, user));
      await pipe.exec();
    }
  }
  const getDelta = redisDelta(getBefore, await snapshot(redis));
  const heads = await redis.mget(...userIds.map((user) => userHeadKey(keyspace, user)));
  return {
    users: options.users,
    days: options.days,
    eventsPerUserDay: options.eventsPerUserDay,
    activeHours: options.activeHours,
    ownTitleShare: options.ownTitleShare,
    events,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    localDedup,
    reads: {
      count: reads,
      redisCpuMicrosPerRead: Math.round((readDelta.cpuSeconds * 1e8) / reads) / 100,
      redisCpuMicrosPerHgetall: Math.round((rawDelta.cpuSeconds * 1e8) / reads) / 100,
      redisCpuMicrosPerJsonRead: Math.round((jsonDelta.cpuSeconds * 1e8) / reads) / 100,
      redisCpuMicrosPerHget: Math.round((hgetDelta.cpuSeconds * 1e8) / reads) / 100,
      redisCpuMicrosPerHeadGet: Math.round((getDelta.cpuSeconds * 1e8) / reads) / 100,
      headBytesPerUser: Math.round(heads.reduce((sum, head) => sum + (head?.length ?? 0), 0) / userIds.length),
      commandstats,
    },
    byDay,
  };
}
