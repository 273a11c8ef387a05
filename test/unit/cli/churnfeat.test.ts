import { afterEach, describe, expect, it, vi } from 'vitest';
import { COMMANDS, main } from '../../../cli/churnfeat.ts';

/** Runs the CLI in-process and captures what it writes. */
async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) });
  return { code, stdout, stderr };
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('churnfeat command line', () => {
  it('lists every command on --help and exits 0', async () => {
    const { code, stdout } = await run('--help');
    expect(code).toBe(0);
    for (const name of ['sidecar', 'serve', 'lake-writer', 'lake-setup', 'canary', 'compile', 'loadgen', 'parity', 'demo']) {
      expect(Object.keys(COMMANDS)).toContain(name);
      expect(stdout).toContain(`  ${name}`);
    }
  });

  it('exits 2 with the usage when no command or an unknown command is given', async () => {
    const none = await run();
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('usage: churnfeat <command>');
    const unknown = await run('sidecars');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "sidecars"');
    expect(unknown.stderr).toContain('usage: churnfeat <command>');
  });

  it("prints each command's options with env variables and defaults on <command> --help", async () => {
    const sidecar = await run('sidecar', '--help');
    expect(sidecar.code).toBe(0);
    expect(sidecar.stdout).toContain('--redis-url URL');
    expect(sidecar.stdout).toMatch(/env CHURNFEAT_REDIS_URL; default redis:\/\/127\.0\.0\.1:16379/);
    expect(sidecar.stdout).toContain('--no-from-beginning');
    for (const name of Object.keys(COMMANDS)) {
      const help = await run(name, '--help');
      expect(help.code, name).toBe(0);
      expect(help.stdout, name).toContain(`churnfeat ${name}`);
    }
  });

  it.each([
    [['sidecar', '--bogus'], "Unknown option '--bogus'", 'usage: churnfeat sidecar'],
    [['serve', '--port'], "Option '--port <value>' argument missing", 'usage: churnfeat serve'],
    [['lake-writer', 'stray'], "Unexpected argument 'stray'", 'usage: churnfeat lake-writer'],
    [['canary', '--once', '--twice'], "Unknown option '--twice'", 'usage: churnfeat canary'],
    [['loadgen', '--rate', 'fast'], 'option --rate must be a number', 'churnfeat loadgen [options]'],
    [['parity', '--userz', '5'], "Unknown option '--userz'", 'usage: churnfeat parity'],
    [['demo', '--minutes', '1'], "Unknown option '--minutes'", 'usage: churnfeat demo'],
  ])('exits 2 with the usage on a bad command line: %j', async (argv, message, usage) => {
    const { code, stderr } = await run(...argv);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).toContain(usage);
  });

  it.each([
    [['sidecar', '--metrics-port', 'abc'], 'invalid option "metricsPort": must be integer'],
    [['serve', '--port', '70000'], 'invalid option "port": must be <= 65535'],
    [['lake-setup', '--retention-days', '0'], 'invalid option "retentionDays": must be >= 1'],
    [['demo', '--seconds', '1'], 'invalid option "seconds"'],
    [['canary', '--read-via', 'kafka'], 'invalid option "readVia"'],
  ])('exits 2 naming the option on a bad value: %j', async (argv, message) => {
    const { code, stderr } = await run(...argv);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
  });

  it('exits 2 naming the option and its env variable when the environment holds a bad value', async () => {
    vi.stubEnv('CHURNFEAT_REDIS_URL', 'http://127.0.0.1:6379');
    const { code, stderr } = await run('sidecar');
    expect(code).toBe(2);
    expect(stderr).toContain('invalid option "redisUrl"');
    expect(stderr).toContain('env CHURNFEAT_REDIS_URL');
  });
});

describe('churnfeat version', () => {
  it('exits 2 with the usage on a missing or unknown subcommand, a wrong number of arguments or a bad version id', async () => {
    for (const argv of [['version'], ['version', 'promote', 'v1'], ['version', 'cutover'], ['version', 'diff', 'a'], ['version', 'rollback', 'v1'], ['version', 'gc', 'a b*']]) {
      const result = await run(...argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.stderr).toContain('usage: churnfeat version <subcommand>');
    }
    const bad = await run('version', 'list', '--gc-batch', '0');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid option "gcBatch"');
  });

  it('lists its subcommands and options on --help', async () => {
    const { code, stdout } = await run('version', '--help');
    expect(code).toBe(0);
    for (const sub of ['list', 'status VERSION', 'cutover VERSION', 'rollback', 'retire VERSION', 'gc VERSION', 'diff A B', 'audit']) expect(stdout).toContain(`  ${sub}`);
    expect(stdout).toContain('--dry-run');
    expect(stdout).toMatch(/--actor .*env CHURNFEAT_ACTOR/);
  });
});
