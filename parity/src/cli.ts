/**
 * The online/offline parity job.
 *
 *   npx tsx parity/src/cli.ts [--as-of <epoch ms | ISO time>] [--users 500] [--strata 4]
 *       [--seed N] [--threshold 0] [--out reports/parity]
 *       [--redis-url URL] [--key-prefix cf] [--topic-namespace churnfeat]
 *       [--brokers host:port,...] [--sidecar-group churnfeat-sidecar | --no-committed-offsets]
 *       [--lake <folder | s3://bucket/prefix>] [--s3-endpoint URL]
 *       [--warehouse duckdb | snowflake] [--duckdb-path .cache/warehouse/churnfeat.duckdb]
 *       [--lake-root .cache/lake] [--dbt-target T] [--dbt-build] [--offline-sql FILE]
 *       [--online-allowed-lateness-ms N]
 *   npx tsx parity/src/cli.ts compile-sql --out FILE [--dbt-target T]
 *
 * Exit codes: 0 pass, 1 unexplained mismatches above the threshold, 2 the job could not run.
 * Defaults come from the CHURNFEAT_* environment (see parity/README.md); --warehouse
 * snowflake reads SNOWFLAKE_ACCOUNT, _USER, _PASSWORD, _DATABASE, _SCHEMA, _WAREHOUSE,
 * _ROLE and _ACCESS_URL (an emulator's URL).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { compileOfflineSql } from './dbt.ts';
import { defaultParityOptions, type ParityOptions } from './options.ts';
import { runParity, summarizeParity } from './run-parity.ts';

function asOf(text: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new Error(`--as-of: not epoch milliseconds or an ISO time: ${text}`);
  return ms;
}

function integer(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value)) throw new Error(`--${name}: not an integer: ${text}`);
  return value;
}

function snowflakeFromEnv(env: NodeJS.ProcessEnv): Extract<ParityOptions['warehouse'], { kind: 'snowflake' }>['connection'] {
  const need = (name: string): string => {
    const value = env[name];
    if (!value) throw new Error(`--warehouse snowflake needs ${name}`);
    return value;
  };
  return {
    account: need('SNOWFLAKE_ACCOUNT'),
    username: need('SNOWFLAKE_USER'),
    database: need('SNOWFLAKE_DATABASE'),
    schema: need('SNOWFLAKE_SCHEMA'),
    ...(env.SNOWFLAKE_PASSWORD ? { password: env.SNOWFLAKE_PASSWORD } : {}),
    ...(env.SNOWFLAKE_WAREHOUSE ? { warehouse: env.SNOWFLAKE_WAREHOUSE } : {}),
    ...(env.SNOWFLAKE_ROLE ? { role: env.SNOWFLAKE_ROLE } : {}),
    ...(env.SNOWFLAKE_ACCESS_URL ? { accessUrl: env.SNOWFLAKE_ACCESS_URL } : {}),
  };
}

async function main(argv: string[]): Promise<number> {
  const command = argv[0] === 'compile-sql' || argv[0] === 'run' ? argv[0] : 'run';
  const { values } = parseArgs({
    args: argv[0] === command ? argv.slice(1) : argv,
    options: {
      'as-of': { type: 'string' },
      users: { type: 'string' },
      strata: { type: 'string' },
      seed: { type: 'string' },
      threshold: { type: 'string' },
      out: { type: 'string' },
      'redis-url': { type: 'string' },
      'key-prefix': { type: 'string' },
      'topic-namespace': { type: 'string' },
      brokers: { type: 'string' },
      'sidecar-group': { type: 'string' },
      'no-committed-offsets': { type: 'boolean', default: false },
      lake: { type: 'string' },
      's3-endpoint': { type: 'string' },
      warehouse: { type: 'string', default: 'duckdb' },
      'duckdb-path': { type: 'string' },
      'lake-root': { type: 'string' },
      'dbt-target': { type: 'string' },
      'dbt-build': { type: 'boolean', default: false },
      'offline-sql': { type: 'string' },
      'online-allowed-lateness-ms': { type: 'string' },
    },
  });
  const options = defaultParityOptions();
  if (values['duckdb-path']) {
    options.warehouse = { kind: 'duckdb', path: values['duckdb-path'] };
    options.dbt.env.CHURNFEAT_DUCKDB_PATH = resolve(values['duckdb-path']);
  }
  if (values['lake-root']) {
    options.dbt.env.CHURNFEAT_LAKE_ROOT = resolve(values['lake-root']);
    options.dbt.vars.lake_root = resolve(values['lake-root']);
  }
  if (values['dbt-target']) options.dbt.target = values['dbt-target'];

  if (command === 'compile-sql') {
    if (!values.out) throw new Error('compile-sql needs --out FILE');
    const sql = await compileOfflineSql(options.dbt);
    await mkdir(dirname(resolve(values.out)), { recursive: true });
    await writeFile(values.out, `-- churnfeat-parity lake_events=${sql.lakeEvents}\n${sql.pointInTime}\n`);
    process.stdout.write(`compiled parity SQL (lake events: ${sql.lakeEvents}) to ${values.out}\n`);
    return 0;
  }

  if (values['as-of']) options.asOfMs = asOf(values['as-of']);
  if (values.users) options.users = integer('users', values.users);
  if (values.strata) options.strata = integer('strata', values.strata);
  if (values.seed) options.seed = integer('seed', values.seed);
  if (values.threshold) options.threshold = integer('threshold', values.threshold);
  if (values.out) options.outDir = values.out;
  if (values['redis-url']) options.redisUrl = values['redis-url'];
  if (values['key-prefix']) options.keyPrefix = values['key-prefix'];
  if (values['topic-namespace']) options.topicNamespace = values['topic-namespace'];
  if (values['no-committed-offsets']) options.kafka = null;
  else if (options.kafka) {
    if (values.brokers) options.kafka.brokers = values.brokers.split(',').map((b) => b.trim());
    if (values['sidecar-group']) options.kafka.groupId = values['sidecar-group'];
  }
  if (values.lake) options.lake = { uri: values.lake, s3Endpoint: values['s3-endpoint'] ?? process.env.CHURNFEAT_S3_ENDPOINT ?? null };
  if (values['dbt-build']) options.dbtBuild = true;
  if (values['online-allowed-lateness-ms']) options.onlineAllowedLatenessMs = integer('online-allowed-lateness-ms', values['online-allowed-lateness-ms']);
  if (values['offline-sql']) options.offlineSqlFile = values['offline-sql'];
  if (values.warehouse === 'snowflake') options.warehouse = { kind: 'snowflake', connection: snowflakeFromEnv(process.env) };
  else if (values.warehouse !== 'duckdb') throw new Error(`--warehouse: duckdb or snowflake, not ${values.warehouse}`);

  const result = await runParity(options);
  process.stdout.write(`${summarizeParity(result)}\n`);
  for (const feature of result.features) {
    process.stdout.write(`  ${feature.name.padEnd(28)} ${String(feature.mismatches).padStart(5)} / ${feature.compared} differ${feature.byClass.unexplained ? ` (${feature.byClass.unexplained} unexplained)` : ''}\n`);
  }
  process.stdout.write(`JSON ${result.reports.json}\nHTML ${result.reports.html}\n`);
  return result.exitCode;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`parity: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 2;
}
