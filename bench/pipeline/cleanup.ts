/**
 * Deletes what a benchmark run left behind when it could not clean up itself (killed,
 * or run with --keep): the topics of namespace `bench.<id>`, its consumer groups and its
 * Redis keys.
 *   npx tsx bench/pipeline/cleanup.ts <id> [<id> ...]      (ids as printed by run.ts, e.g. bxyz123)
 */
import { Kafka, logLevel } from 'kafkajs';
import { Redis } from 'ioredis';
import { deleteKeys } from './redis-stats.ts';

const ids = process.argv.slice(2);
if (ids.length === 0 || ids.some((id) => !/^[A-Za-z0-9_-]{1,40}$/.test(id))) {
  process.stderr.write('usage: npx tsx bench/pipeline/cleanup.ts <id> [<id> ...]\n');
  process.exit(2);
}
const kafka = new Kafka({ clientId: 'churnfeat-bench-cleanup', brokers: (process.env.CHURNFEAT_KAFKA_BROKERS ?? '127.0.0.1:19092').split(','), logLevel: logLevel.ERROR });
const admin = kafka.admin();
await admin.connect();
const redis = new Redis(process.env.CHURNFEAT_REDIS_URL ?? 'redis://127.0.0.1:16379');
const topics = await admin.listTopics();
const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
for (const id of ids) {
  const ns = `bench.${id}`;
  const mine = topics.filter((t) => t.startsWith(`${ns}.`));
  if (mine.length > 0) await admin.deleteTopics({ topics: mine });
  const myGroups = groups.filter((g) => g === ns || g.startsWith(`${ns}.`));
  if (myGroups.length > 0) await admin.deleteGroups(myGroups).catch(() => undefined);
  const keys = (await deleteKeys(redis, ns)) + (await deleteKeys(redis, `${ns}.dau`));
  process.stdout.write(`${ns}: ${mine.length} topics, ${myGroups.length} groups, ${keys} keys deleted\n`);
}
await admin.disconnect();
redis.disconnect();
