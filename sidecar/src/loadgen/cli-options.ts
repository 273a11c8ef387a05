import { parseArgs } from 'node:util';
import { COMMON_OPTIONS, readEnvOptions } from '../config/index.ts';
import type { EventSize, EventStreamOptions } from './event-stream.ts';

/** The load generator's command line, parsed and checked. */
export interface LoadgenCliOptions {
  stream: EventStreamOptions;
  rate: number;
  count?: number;
  durationMs?: number;
  clock: 'live' | 'virtual';
  startMs?: number;
  brokers: string[];
  namespace: string;
  createTopics: boolean;
  kafka: boolean;
  acks: -1 | 0 | 1;
  maxInFlight: number;
  batch: number;
  out?: string;
  json: boolean;
  quiet: boolean;
}

/** A bad command line: the message names the option. */
export class LoadgenUsageError extends Error {
  override readonly name = 'LoadgenUsageError';
}

export const LOADGEN_USAGE = `churnfeat load generator: a deterministic, realistic event stream to Kafka and/or a file.

  churnfeat loadgen [options]

  --seed N               PRNG seed; the same seed gives the same stream (default 1)
  --rate N               events per second; 0 = as fast as the broker takes them (default 1000)
  --count N              stop after N events
  --duration S           stop after S seconds (default 60 when --count is not given)
  --users N              subscribers sending events (default 100000)
  --hot-users N          users far hotter than the rest (default 10)
  --hot-share X          share of events from the hot users (default 0.02)
  --size N | MIN-MAX     event size in bytes, exact or drawn (default 500-2048, mean ~1 KB)
  --late-share X         share 5-30 min late (default 0.025)
  --very-late-share X    share 1-26 h late, some beyond the 24 h allowed lateness (default 0.003)
  --duplicate-share X    share sent twice (default 0.01)
  --invalid-share X      share of invalid payloads (default 0.002)
  --idless-share X       share of users on TV clients without event_id (default 0.1)
  --skew-ahead-share X   share of users whose clock runs 1-10 min ahead (default 0.02)
  --skew-behind-share X  share of users whose clock runs 10-120 s behind (default 0.01)
  --own-title-share X    share of plays of the user's own few titles, the rest from the catalog (default 0.9)
  --on-time-delay MIN-MAX  device-to-edge delay of on-time events, ms (default 50-2000; 0-0 = event_ts is now)
  --clock live|virtual   live: ingest_ts is the wall clock; virtual: ingest_ts advances at the
                         rate from --start-ms, so output is byte-identical run to run (default live)
  --start-ms N           start of the virtual clock, epoch ms (default now)
  --brokers LIST         Kafka bootstrap servers (env ${(COMMON_OPTIONS.brokers.env ?? []).join(' or ')}, default ${COMMON_OPTIONS.brokers.default.join(',')})
  --namespace NS         topic namespace: <NS>.<source>.events (env ${(COMMON_OPTIONS.topicNamespace.env ?? []).join(' or ')}, default ${COMMON_OPTIONS.topicNamespace.default})
  --create-topics        create the namespace's topics when missing
  --acks -1|0|1          producer acks (default -1)
  --max-in-flight N      concurrent produce batches (default 4)
  --batch N              events per produce batch at most (default 1000)
  --out FILE             also write the stream to FILE as NDJSON (one record per line)
  --no-kafka             do not produce to Kafka (with --out: file only)
  --json                 print the final summary as one JSON line on stdout
  --quiet                no progress lines on stderr
  --help                 this text
`;

function number(name: string, text: string | undefined, fallback: number, { min = -Infinity, max = Infinity, integer = false } = {}): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    const range = `${integer ? 'an integer' : 'a number'}${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` and <= ${max}` : ''}`;
    throw new LoadgenUsageError(`option --${name} must be ${range}, got ${JSON.stringify(text)}`);
  }
  return value;
}

function range(name: string, text: string, min: number, max: number): [number, number] {
  const match = /^(\d+)-(\d+)$/.exec(text.trim());
  const lo = match ? Number(match[1]) : NaN;
  const hi = match ? Number(match[2]) : NaN;
  if (!(lo >= min && hi >= lo && hi <= max)) throw new LoadgenUsageError(`option --${name} must be MIN-MAX with ${min} <= MIN <= MAX <= ${max}, got ${JSON.stringify(text)}`);
  return [lo, hi];
}

/** Parses the load generator's arguments (without `node` and the script) and environment. */
export function parseLoadgenArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): LoadgenCliOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        seed: { type: 'string' },
        rate: { type: 'string' },
        count: { type: 'string' },
        duration: { type: 'string' },
        users: { type: 'string' },
        'hot-users': { type: 'string' },
        'hot-share': { type: 'string' },
        size: { type: 'string' },
        'late-share': { type: 'string' },
        'very-late-share': { type: 'string' },
        'duplicate-share': { type: 'string' },
        'invalid-share': { type: 'string' },
        'idless-share': { type: 'string' },
        'skew-ahead-share': { type: 'string' },
        'skew-behind-share': { type: 'string' },
        'on-time-delay': { type: 'string' },
        'own-title-share': { type: 'string' },
        clock: { type: 'string' },
        'start-ms': { type: 'string' },
        brokers: { type: 'string' },
        namespace: { type: 'string' },
        'create-topics': { type: 'boolean' },
        acks: { type: 'string' },
        'max-in-flight': { type: 'string' },
        batch: { type: 'string' },
        out: { type: 'string' },
        'no-kafka': { type: 'boolean' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    throw new LoadgenUsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return 'help';
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const share = (name: string, fallback: number): number => number(name, str(name), fallback, { min: 0, max: 1 });

  let size: EventSize = { min: 500, max: 2_048 };
  const sizeText = str('size');
  if (sizeText !== undefined) {
    if (sizeText.includes('-')) {
      const [min, max] = range('size', sizeText, 200, 65_536);
      size = { min, max };
    } else {
      size = number('size', sizeText, 0, { min: 200, max: 65_536, integer: true });
    }
  }
  const clock = str('clock') ?? 'live';
  if (clock !== 'live' && clock !== 'virtual') throw new LoadgenUsageError(`option --clock must be live or virtual, got ${JSON.stringify(clock)}`);
  const acks = number('acks', str('acks'), -1, { min: -1, max: 1, integer: true }) as -1 | 0 | 1;
  const count = str('count') === undefined ? undefined : number('count', str('count'), 0, { min: 1, integer: true });
  const durationS = str('duration') === undefined ? (count === undefined ? 60 : undefined) : number('duration', str('duration'), 0, { min: 0.001 });
  // Brokers and namespace: env names and defaults from the shared option table.
  const shared = readEnvOptions({ brokers: COMMON_OPTIONS.brokers, topicNamespace: COMMON_OPTIONS.topicNamespace }, env);
  const namespace = str('namespace') ?? shared.topicNamespace ?? COMMON_OPTIONS.topicNamespace.default;
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(namespace)) throw new LoadgenUsageError(`option --namespace must match [A-Za-z0-9_.-]{1,100}, got ${JSON.stringify(namespace)}`);
  const brokers = (str('brokers') ?? (shared.brokers ?? COMMON_OPTIONS.brokers.default).join(','))
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  for (const broker of brokers) {
    if (!/^[^:]+:\d+$/.test(broker)) throw new LoadgenUsageError(`option --brokers must be host:port[,host:port...], got ${JSON.stringify(broker)}`);
  }
  const kafka = !values['no-kafka'];
  const out = str('out');
  if (!kafka && out === undefined) throw new LoadgenUsageError('option --no-kafka needs --out FILE (nothing would be written)');
  const onTimeText = str('on-time-delay');
  const stream: EventStreamOptions = {
    seed: number('seed', str('seed'), 1, { min: 0, max: 2 ** 32 - 1, integer: true }),
    users: number('users', str('users'), 100_000, { min: 1, max: 100_000_000, integer: true }),
    hotUsers: number('hot-users', str('hot-users'), 10, { min: 0, integer: true }),
    hotShare: share('hot-share', 0.02),
    lateShare: share('late-share', 0.025),
    veryLateShare: share('very-late-share', 0.003),
    duplicateShare: share('duplicate-share', 0.01),
    invalidShare: share('invalid-share', 0.002),
    idlessShare: share('idless-share', 0.1),
    skewAheadShare: share('skew-ahead-share', 0.02),
    skewBehindShare: share('skew-behind-share', 0.01),
    ownTitleShare: share('own-title-share', 0.9),
    size,
    ...(onTimeText === undefined ? {} : { onTimeDelayMs: range('on-time-delay', onTimeText, 0, 3_600_000) }),
  };
  const options: LoadgenCliOptions = {
    stream,
    rate: number('rate', str('rate'), 1_000, { min: 0, max: 10_000_000 }),
    clock,
    brokers,
    namespace,
    createTopics: Boolean(values['create-topics']),
    kafka,
    acks,
    maxInFlight: number('max-in-flight', str('max-in-flight'), 4, { min: 1, max: 64, integer: true }),
    batch: number('batch', str('batch'), 1_000, { min: 1, max: 100_000, integer: true }),
    json: Boolean(values.json),
    quiet: Boolean(values.quiet),
  };
  if (count !== undefined) options.count = count;
  if (durationS !== undefined) options.durationMs = durationS * 1000;
  const startText = str('start-ms');
  if (startText !== undefined) options.startMs = number('start-ms', startText, 0, { min: 0, integer: true });
  if (out !== undefined) options.out = out;
  return options;
}
