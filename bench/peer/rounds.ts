/**
 * Interleaved rounds of the side-by-side with the Flink peer: sidecar, Flink G1, Flink
 * ParallelGC, … per round, each through the peer's own `bench.py run` (which measures CPU
 * from /proc and reads every user back). Not a test.
 *
 *   PF_NS=… npx tsx bench/peer/rounds.ts --peer-dir ../shared/peers/flink [--reps 2] [--variants s,fg,fp] [--prefix l]
 *
 * Why not the peer's `bench.py all`: the peer reads a run's features back from `<prefix>:{user}`,
 * the key layout before versioned keyspaces. The sidecar now keeps a registry version's state
 * under `<prefix>:v:<version>:{user}` (docs/lifecycle.md), so after each sidecar run this script
 * reads that run back again with the peer's own reader (`peer.flink.Dump`) at the version's
 * prefix and the same as-of, before the next run flushes Redis. The Flink runs are untouched.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { versionPrefix } from '../../sidecar/src/store/redis-layout.ts';

const USAGE = 'usage: npx tsx bench/peer/rounds.ts --peer-dir DIR [--reps 2] [--variants s,fg,fp] [--prefix LABEL_PREFIX] [--start 1]';
const MATRIX: Record<string, string[]> = {
  s: ['sidecar'],
  fg: ['flink'],
  fp: ['flink', '--gc=-XX:+UseParallelGC'],
  fm: ['flink', '--flink-args=--dedup mapstate'],
};

function parse() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'peer-dir': { type: 'string' },
        reps: { type: 'string', default: '2' },
        variants: { type: 'string', default: 's,fg,fp' },
        prefix: { type: 'string', default: '' },
        start: { type: 'string', default: '1' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const reps = Number(values.reps);
  const start = Number(values.start);
  const variants = values.variants.split(',');
  const bad = variants.filter((v) => !(v in MATRIX));
  if (!values['peer-dir'] || !Number.isInteger(reps) || reps < 1 || !Number.isInteger(start) || start < 0 || bad.length > 0 || !/^[a-z]*$/.test(values.prefix)) {
    console.error(`${bad.length > 0 ? `unknown variants ${bad.join(',')} (known: ${Object.keys(MATRIX).join(',')})\n` : ''}${USAGE}`);
    process.exit(2);
  }
  return { peerDir: resolve(values['peer-dir']), reps, start, variants, prefix: values.prefix };
}

const args = parse();
const main = resolve(process.env.PF_MAIN ?? '.cache/peer-main');
const scratch = resolve(process.env.PF_SCRATCH ?? '.cache/peer-flink');
const env = { ...process.env, PF_MAIN: main, PF_SCRATCH: scratch };
const redisUrl = `redis://127.0.0.1:${process.env.PF_REDIS_PORT ?? '26379'}`;
const version = loadFeatureRegistry('dbt_project').version;

for (let round = args.start; round < args.start + args.reps; round++) {
  for (const variant of args.variants) {
    const label = `${args.prefix}${variant}${round}`;
    const [system, ...extra] = MATRIX[variant] as string[];
    execFileSync('python3', [join(args.peerDir, 'bench.py'), 'run', system as string, '--label', label, ...extra], { cwd: main, env, stdio: 'inherit' });
    if (system === 'sidecar') readBackVersioned(label);
  }
}

/** Reads a sidecar run back from its version's keyspace with the peer's reader, into the run's features.tsv. */
function readBackVersioned(label: string): void {
  const resultPath = join(scratch, 'results', `run-${label}.json`);
  const result = JSON.parse(readFileSync(resultPath, 'utf8')) as { key_prefix: string; readback: { as_of_ms?: number } & Record<string, unknown> };
  const asOf = result.readback.as_of_ms;
  if (asOf === undefined) throw new Error(`${resultPath}: the peer's read-back has no as_of_ms (${JSON.stringify(result.readback)})`);
  const prefix = versionPrefix(result.key_prefix, version);
  const out = execFileSync(
    'java',
    [
      '-cp',
      join(scratch, 'target', 'peer-flink-bench.jar'),
      'peer.flink.Dump',
      '--redis',
      redisUrl,
      '--prefix',
      prefix,
      '--as-of',
      String(asOf),
      '--out',
      join(scratch, 'runs', label, 'features.tsv'),
    ],
    { cwd: scratch, encoding: 'utf8' },
  );
  result.readback = JSON.parse(out.trim().split('\n').pop() as string) as typeof result.readback;
  writeFileSync(resultPath, `${JSON.stringify(result, null, 1)}\n`);
  console.log(`[rounds] ${label}: read back again from ${prefix}:{user}: ${JSON.stringify(result.readback)}`);
}
