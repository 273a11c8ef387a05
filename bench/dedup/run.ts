/**
 * The dedup rebuild benchmark (`--dedup local`, sidecar/src/dedup): how fast a sidecar rebuilds
 * a partition's dedup index from its changelog, on the stack's Kafka. Not a test: it prints
 * figures and writes bench/results/dedup-rebuild-<date>[-<label>].json.
 *
 * It writes a changelog partition of the shape the sidecar writes (records of one batch's
 * calls: `--users-per-record` users with `--entries-per-user` new members each, over a moving
 * call clock), then times `readChangelog` with the index replay, as a rebuild on assignment
 * runs it: members per second and MB per second read, replay CPU per member, and the index's
 * heap bytes per member after the rebuild.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { Redis } from 'ioredis';
import { changelogTopic, encodeChanges, FROM_HEADER, PartitionDedupIndex, readChangelog, type DedupChange } from '../../sidecar/src/dedup/index.ts';
import { dedupStamp } from '../../sidecar/src/store/index.ts';
import { describeMachine } from '../pipeline/machine.ts';
import { startRedisServer } from '../serving/redis-process.ts';
import { heapAfterGc, numberFlags, parseFlags } from '../common/cli.ts';

const USAGE = `dedup rebuild benchmark (not a test): prints figures, writes bench/results/dedup-rebuild-<date>[-<label>].json
  --members N           members in the changelog partition (default 2000000)
  --users N             distinct users (default 20000)
  --users-per-record N  users per changelog record (default 250)
  --entries-per-user N  new members per user per record (default 4)
  --label L             suffix of the results file`;

const { values } = parseFlags(
  {
    options: {
      members: { type: 'string' },
      users: { type: 'string' },
      'users-per-record': { type: 'string' },
      'entries-per-user': { type: 'string' },
      label: { type: 'string' },
      help: { type: 'boolean' },
    },
  },
  USAGE,
);
const num = numberFlags(USAGE);
const members = num(values.members, 2_000_000);
const users = num(values.users, 20_000);
const usersPerRecord = num(values['users-per-record'], 250);
const entriesPerUser = num(values['entries-per-user'], 4);

const brokers = (process.env.CHURNFEAT_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const kafka = new Kafka({ clientId: 'churnfeat-bench-dedup', brokers, logLevel: logLevel.ERROR });
const admin = kafka.admin();
await admin.connect();
const source = `bench.dedup${randomBytes(4).toString('hex')}.client.events`;
const topic = changelogTopic(source);
await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
const producer = kafka.producer({ allowAutoTopicCreation: false });
await producer.connect();
try {
  // the changelog: calls over a clock that moves 1 s per record, so every entry is live at the end
  const t0S = Math.floor(Date.now() / 1000) - 3_600;
  let written = 0;
  let bytes = 0;
  let records = 0;
  let user = 0;
  const pending: Array<{ value: Buffer; headers: Record<string, string> }> = [];
  while (written < members) {
    const changes: DedupChange[] = [];
    const clockS = t0S + records;
    for (let u = 0; u < usersPerRecord && written < members; u++) {
      let appended = '';
      for (let e = 0; e < entriesPerUser && written < members; e++, written++) appended += randomBytes(8).toString('latin1') + dedupStamp(clockS, clockS - 90_000).toString('latin1');
      changes.push({ userId: `u${String(user++ % users).padStart(8, '0')}`, boundS: clockS - 90_000, clockMs: clockS * 1000, appended, packed: '' });
    }
    const value = encodeChanges(changes);
    bytes += value.length;
    records += 1;
    pending.push({ value, headers: { [FROM_HEADER]: '0' } });
    if (pending.length >= 25) await producer.send({ topic, acks: -1, messages: pending.splice(0) });
  }
  if (pending.length > 0) await producer.send({ topic, acks: -1, messages: pending.splice(0) });
  console.log(`changelog: ${records} records, ${written} members of ${users} users, ${(bytes / 1e6).toFixed(1)} MB (${(bytes / written).toFixed(2)} bytes/member)`);

  const heap0 = heapAfterGc();
  let index: PartitionDedupIndex | null = new PartitionDedupIndex(Number.MAX_SAFE_INTEGER);
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const reads = await readChangelog(kafka, admin, topic, [0], (_, entry) => index?.replay(entry.userId, entry.appended, entry.boundS, entry.clockMs));
  const seconds = (performance.now() - wall0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const heapBytes = heapAfterGc() - heap0;
  const held = index.members;
  const heldUsers = index.size;
  index = null;
  const read = reads.get(0);
  const summary = {
    members: written,
    users,
    records,
    changelogBytes: bytes,
    changelogBytesPerMember: Math.round((bytes / written) * 100) / 100,
    rebuildSeconds: Math.round(seconds * 100) / 100,
    recordsRead: read?.records ?? 0,
    membersHeld: held,
    usersHeld: heldUsers,
    membersPerSecond: Math.round(held / seconds),
    megabytesPerSecond: Math.round((bytes / 1e6 / seconds) * 10) / 10,
    sidecarCpuMicrosPerMember: Math.round(((cpuSeconds * 1e6) / held) * 1000) / 1000,
    heapBytesPerMember: Math.round((heapBytes / held) * 100) / 100,
  };
  console.log(
    `rebuild: ${summary.membersHeld} members of ${summary.usersHeld} users from ${summary.recordsRead} records in ${summary.rebuildSeconds} s = ${summary.membersPerSecond} members/s, ${summary.megabytesPerSecond} MB/s; sidecar CPU ${summary.sidecarCpuMicrosPerMember} µs/member; index heap ${summary.heapBytesPerMember} bytes/member`,
  );
  const redis = await startRedisServer();
  const client = new Redis(redis.url);
  const machine = await describeMachine(client);
  client.disconnect();
  await redis.stop();
  const date = new Date().toISOString().slice(0, 10);
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/dedup-rebuild-${date}${values.label ? `-${values.label}` : ''}.json`;
  writeFileSync(file, `${JSON.stringify({ command: `npx tsx bench/dedup/run.ts ${process.argv.slice(2).join(' ')}`.trim(), machine, summary }, null, 2)}\n`);
  console.log(`wrote ${file}`);
} finally {
  await producer.disconnect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
}
