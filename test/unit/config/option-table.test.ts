import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CANARY_OPTIONS } from '../../../sidecar/src/canary/index.ts';
import {
  COMMON_OPTIONS,
  DEFAULT_OPTIONS,
  defaultsOf,
  defineOption,
  describeOptions,
  loadOptions,
  optionsFromEnv,
  sidecarGroupFor,
  readArgOptions,
  readEnvOptions,
  resolveOptions,
  resolveTable,
  SCHEMAS,
  SIDECAR_OPTIONS,
  UsageError,
} from '../../../sidecar/src/config/index.ts';
import { LAKE_WRITER_OPTIONS } from '../../../sidecar/src/lake/index.ts';
import { SERVE_OPTIONS } from '../../../sidecar/src/serving/index.ts';
import { defaultParityOptions, PARITY_OPTIONS } from '../../../parity/src/options.ts';

const TABLE = {
  brokers: COMMON_OPTIONS.brokers,
  lakeUri: COMMON_OPTIONS.lakeUri,
  fromBeginning: COMMON_OPTIONS.fromBeginning,
  batch: defineOption<number>({ kind: 'integer', description: 'records per batch', default: 100, env: ['TEST_BATCH'], schema: { type: 'integer', minimum: 1 } }),
} as const;

describe('the option table', () => {
  it('takes defaults, then env variables, then flags, and validates the result', () => {
    expect(loadOptions(TABLE, [], {})).toEqual({ brokers: ['127.0.0.1:19092'], lakeUri: '.cache/lake', fromBeginning: true, batch: 100 });
    const env = { CHURNFEAT_KAFKA_BROKERS: 'a:1, b:2', TEST_BATCH: '7', CHURNFEAT_LAKE_ROOT: '/lake-root' };
    expect(loadOptions(TABLE, [], env)).toMatchObject({ brokers: ['a:1', 'b:2'], batch: 7, lakeUri: '/lake-root' });
    expect(loadOptions(TABLE, ['--batch', '9', '--no-from-beginning', '--lake', 's3://b/p'], env)).toMatchObject({ batch: 9, fromBeginning: false, lakeUri: 's3://b/p' });
  });

  it('lets the first env variable that is set win, and treats an empty one as unset', () => {
    expect(readEnvOptions(TABLE, { CHURNFEAT_LAKE_URI: 's3://x/', CHURNFEAT_LAKE_ROOT: '/y' }).lakeUri).toBe('s3://x/');
    expect(readEnvOptions(TABLE, { CHURNFEAT_LAKE_URI: '', CHURNFEAT_LAKE_ROOT: '/y' }).lakeUri).toBe('/y');
    expect(readEnvOptions(TABLE, { TEST_BATCH: '' })).toEqual({});
  });

  it('names the option, its env variable and its flag when a value is bad', () => {
    expect(() => loadOptions(TABLE, [], { TEST_BATCH: 'many' })).toThrow('invalid option "batch": must be integer (env TEST_BATCH, flag --batch)');
    expect(() => loadOptions(TABLE, ['--batch', '0'], {})).toThrow('invalid option "batch": must be >= 1');
    expect(() => resolveTable(TABLE, { brokers: ['no-port'] })).toThrow('invalid option "brokers"');
    expect(() => resolveOptions({ keyPrefix: 'a{b}' })).toThrow('invalid option "keyPrefix"');
  });

  it("fails the sidecar's start on a bad environment value, naming the option and its env variable", () => {
    expect(() => resolveOptions(optionsFromEnv({ CHURNFEAT_METRICS_PORT: 'abc' }))).toThrow('invalid option "metricsPort": must be integer (env CHURNFEAT_METRICS_PORT, flag --metrics-port)');
    expect(() => resolveOptions(optionsFromEnv({ CHURNFEAT_KAFKA_BROKERS: 'no-port' }))).toThrow('invalid option "brokers"');
    expect(resolveOptions(optionsFromEnv({ CHURNFEAT_REDIS_URL: '' })).redisUrl).toBe(COMMON_OPTIONS.redisUrl.default);
  });

  it("throws a UsageError on an unknown flag or a stray argument, and hands back a command's own flags", () => {
    expect(() => readArgOptions(TABLE, ['--batchh', '1'])).toThrow(UsageError);
    expect(() => loadOptions(TABLE, ['positional'], {})).toThrow(UsageError);
    expect(readArgOptions(TABLE, ['--once', '--batch', '3'], { once: { type: 'boolean' } })).toEqual({ options: { batch: 3 }, flags: { once: true } });
  });

  it('hands out fresh copies of the defaults', () => {
    const first = defaultsOf(TABLE);
    first.brokers.push('mutated:1');
    expect(defaultsOf(TABLE).brokers).toEqual(['127.0.0.1:19092']);
    expect(COMMON_OPTIONS.brokers.default).toEqual(['127.0.0.1:19092']);
  });

  it('shares one spec (one default, one env name) between every service that has the option', () => {
    for (const table of [SIDECAR_OPTIONS, SERVE_OPTIONS, PARITY_OPTIONS]) expect(table.redisUrl.default).toBe(COMMON_OPTIONS.redisUrl.default);
    expect(CANARY_OPTIONS.redisUrl.env).toBe(COMMON_OPTIONS.redisUrl.env);
    for (const table of [SIDECAR_OPTIONS, LAKE_WRITER_OPTIONS, CANARY_OPTIONS, PARITY_OPTIONS]) expect(table.brokers).toBe(COMMON_OPTIONS.brokers);
    expect(SIDECAR_OPTIONS.maxPayloadBytes).toBe(LAKE_WRITER_OPTIONS.maxPayloadBytes);
    expect(DEFAULT_OPTIONS.groupId).toBe(defaultParityOptions({}).kafka?.groupId);
  });

  it("derives the sidecar's consumer group from the registry version unless one is set, so two versions consume side by side", () => {
    expect(DEFAULT_OPTIONS.groupId).toBe('');
    expect(sidecarGroupFor('', 'aaaa')).toBe('churnfeat-sidecar-aaaa');
    expect(sidecarGroupFor('', 'bbbb')).not.toBe(sidecarGroupFor('', 'aaaa'));
    expect(sidecarGroupFor('my-group', 'aaaa')).toBe('my-group');
  });

  it('writes the stack ports as defaults in one place only', () => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir)) {
        const path = join(dir, entry);
        if (statSync(path).isDirectory()) walk(path);
        else if (path.endsWith('.ts')) files.push(path);
      }
    };
    for (const dir of ['cli', 'sidecar/src', 'parity/src']) walk(dir);
    const writers = files.filter((file) => /16379|19092/.test(readFileSync(file, 'utf8')));
    expect(writers).toEqual([join('sidecar', 'src', 'config', 'option-table.ts')]);
  });

  it('describes every option with its flag, env variables and default for --help', () => {
    const text = describeOptions(TABLE);
    expect(text).toContain('--brokers HOST:PORT,...');
    expect(text).toContain('env CHURNFEAT_KAFKA_BROKERS; default 127.0.0.1:19092');
    expect(text).toContain('env CHURNFEAT_LAKE_URI or CHURNFEAT_LAKE_ROOT; default .cache/lake');
    expect(text).toContain('--from-beginning | --no-from-beginning');
    expect(SCHEMAS.port).toEqual({ type: 'integer', minimum: 0, maximum: 65535 });
  });
});
