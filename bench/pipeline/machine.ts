import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import type { Redis } from 'ioredis';
import { info } from './redis-stats.ts';

const require = createRequire(import.meta.url);

/** The machine and software a result was measured on. */
export interface MachineDescription {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  arch: string;
  node: string;
  redis: string;
  /** Redis settings that decide encodings, hence memory per user. */
  redisConfig: Record<string, string>;
  kafka: string;
  kafkajs: string;
  ioredis: string;
  loadAverageAtStart: number[];
  gitCommit: string;
  gitDirtyFiles: number;
}

function packageVersion(name: string): string {
  try {
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The broker version, read from the kafka-clients jar the local stack installed (scripts/stack). */
function kafkaVersion(): string {
  const libs = '.cache/kafka/libs';
  if (!existsSync(libs)) return 'unknown';
  const jar = readdirSync(libs).find((f) => /^kafka-clients-[\d.]+\.jar$/.test(f));
  return jar ? jar.replace(/^kafka-clients-/, '').replace(/\.jar$/, '') : 'unknown';
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

async function redisConfig(redis: Redis): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of ['hash-max-listpack-entries', 'hash-max-listpack-value', 'zset-max-listpack-entries', 'zset-max-listpack-value', 'maxmemory-policy']) {
    const reply = (await redis.config('GET', name)) as string[];
    if (reply[1] !== undefined) out[name] = reply[1];
  }
  return out;
}

export async function describeMachine(redis: Redis): Promise<MachineDescription> {
  const server = await info(redis, 'server');
  return {
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    arch: os.arch(),
    node: process.version,
    redis: server.get('redis_version') ?? 'unknown',
    redisConfig: await redisConfig(redis),
    kafka: kafkaVersion(),
    kafkajs: packageVersion('kafkajs'),
    ioredis: packageVersion('ioredis'),
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    gitCommit: git(['rev-parse', '--short', 'HEAD']) || 'unknown',
    gitDirtyFiles: git(['status', '--porcelain'])
      .split('\n')
      .filter((l) => l.length > 0).length,
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); null when unreadable. */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100;
  } catch {
    return null;
  }
}

/** Busy CPU seconds of the whole machine so far (all cores, from /proc/stat); null when unreadable. */
export function machineBusySeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, ...values] = line.trim().split(/\s+/);
    const n = values.map(Number);
    const idle = (n[3] ?? 0) + (n[4] ?? 0);
    const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
    return (total - idle) / 100;
  } catch {
    return null;
  }
}

/** The pid of a local stack service from its pidfile (scripts/stack), or null. */
export function stackPid(service: 'kafka' | 'redis'): number | null {
  try {
    const pid = Number(readFileSync(`.cache/run/${service}.pid`, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
