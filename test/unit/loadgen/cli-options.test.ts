import { describe, expect, it } from 'vitest';
import { LoadgenUsageError, parseLoadgenArgs, type LoadgenCliOptions } from '../../../sidecar/src/loadgen/cli-options.ts';

function parse(argv: string[], env: NodeJS.ProcessEnv = {}): LoadgenCliOptions {
  const options = parseLoadgenArgs(argv, env);
  if (options === 'help') throw new Error('unexpected help');
  return options;
}

describe('the load generator command line', () => {
  it('has defaults for a one-minute run of 1,000 events/s of 0.5-2 KB events to the default namespace', () => {
    const options = parse([]);
    expect(options).toMatchObject({ rate: 1_000, durationMs: 60_000, clock: 'live', namespace: 'churnfeat', brokers: ['127.0.0.1:19092'], kafka: true, acks: -1 });
    expect(options.count).toBeUndefined();
    expect(options.stream).toMatchObject({ seed: 1, users: 100_000, size: { min: 500, max: 2_048 }, lateShare: 0.025, veryLateShare: 0.003 });
  });

  it('reads the namespace and brokers from the environment unless given', () => {
    const env = { CHURNFEAT_TOPIC_NAMESPACE: 'bench.x', CHURNFEAT_KAFKA_BROKERS: '127.0.0.1:1,127.0.0.1:2' };
    expect(parse([], env)).toMatchObject({ namespace: 'bench.x', brokers: ['127.0.0.1:1', '127.0.0.1:2'] });
    expect(parse(['--namespace', 'bench.y'], env).namespace).toBe('bench.y');
  });

  it('takes an exact size or a range, a count instead of a duration, and a virtual clock', () => {
    const options = parse(['--size', '1024', '--count', '500', '--clock', 'virtual', '--start-ms', '1767225600000', '--on-time-delay', '0-0']);
    expect(options.stream.size).toBe(1_024);
    expect(options.count).toBe(500);
    expect(options.durationMs).toBeUndefined();
    expect(options.clock).toBe('virtual');
    expect(options.startMs).toBe(1_767_225_600_000);
    expect(options.stream.onTimeDelayMs).toEqual([0, 0]);
    expect(parse(['--size', '600-900']).stream.size).toEqual({ min: 600, max: 900 });
  });

  it('rejects a bad value with a message that names the option', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--rate', 'fast'], /--rate/],
      [['--late-share', '2'], /--late-share/],
      [['--size', '10'], /--size/],
      [['--size', '900-600'], /--size/],
      [['--clock', 'wall'], /--clock/],
      [['--brokers', 'nohost'], /--brokers/],
      [['--namespace', 'a b'], /--namespace/],
      [['--no-kafka'], /--no-kafka needs --out/],
      [['--bogus'], /bogus/],
    ];
    for (const [argv, message] of cases) {
      expect(() => parseLoadgenArgs(argv, {})).toThrow(LoadgenUsageError);
      expect(() => parseLoadgenArgs(argv, {})).toThrow(message);
    }
  });

  it('answers --help with the usage instead of options', () => {
    expect(parseLoadgenArgs(['--help'], {})).toBe('help');
  });
});
