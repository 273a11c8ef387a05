/**
 * The high-availability clusters of scripts/stack/ha.sh for the `ha` test group: their
 * addresses (from the CHURNFEAT_HA_* port bases), a node's pid, signals to one node, and
 * bringing killed nodes back.
 */
import { execa } from 'execa';
import type { Admin } from 'kafkajs';
import { waitFor } from './wait.ts';

const kafkaBase = Number(process.env.CHURNFEAT_HA_KAFKA_BASE_PORT ?? 19100);
const redisBase = Number(process.env.CHURNFEAT_HA_REDIS_BASE_PORT ?? 16380);

/** The three brokers (node ids 1-3). */
export const HA_BROKERS = [1, 2, 3].map((i) => `127.0.0.1:${kafkaBase + i}`);
/** The three Sentinels and the master name they watch. */
export const HA_SENTINELS = [3, 4, 5].map((i) => `127.0.0.1:${redisBase + i}`);
export const HA_SENTINEL_NAME = process.env.CHURNFEAT_HA_SENTINEL_MASTER ?? 'churnfeat';
/** The two data nodes of the Sentinel group, by name. */
export const HA_SENTINEL_DATA = { 'redis-primary': redisBase + 1, 'redis-replica': redisBase + 2 } as const;
/** The Cluster's three masters. */
export const HA_CLUSTER_PORTS = [6, 7, 8].map((i) => redisBase + i);

export type HaGroup = 'kafka3' | 'sentinel' | 'cluster';

/** The pid of a node (kafka-1..3, redis-primary, redis-replica, sentinel-1..3, cluster-1..3); throws when it is not running. */
export async function nodePid(name: string): Promise<number> {
  const { stdout } = await execa('scripts/stack/ha.sh', ['pid', name]);
  const pid = Number(stdout.trim());
  if (!pid) throw new Error(`ha node ${name} is not running`);
  return pid;
}

/** Sends a signal to one node by its pid; for SIGKILL, waits until the process is gone. */
export async function signalNode(name: string, signal: NodeJS.Signals): Promise<number> {
  const pid = await nodePid(name);
  process.kill(pid, signal);
  if (signal === 'SIGKILL') {
    await waitFor(
      `${name} (pid ${pid}) to be gone`,
      async () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      },
      { timeoutMs: 10_000, intervalMs: 20 },
    );
  }
  return pid;
}

/** Starts the nodes of a group that are not running (a killed broker keeps its data). */
export async function restartMissing(group: HaGroup): Promise<void> {
  await execa('scripts/stack/ha.sh', ['start', group]);
}

/** The leader's node id and the in-sync replicas of one partition. */
export async function partitionState(admin: Admin, topic: string, partition: number): Promise<{ leader: number; isr: number[] }> {
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  const found = topics[0]?.partitions.find((p) => p.partitionId === partition);
  if (!found) throw new Error(`no metadata for ${topic}:${partition}`);
  return { leader: found.leader, isr: found.isr };
}
