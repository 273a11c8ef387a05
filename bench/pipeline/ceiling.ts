import { parseEvent } from '../../sidecar/src/events/index.ts';
import type { FeatureRegistry } from '../../sidecar/src/features/index.ts';
import type { StreamRecord } from '../../sidecar/src/loadgen/index.ts';
import { WindowOperators } from '../../sidecar/src/windows/index.ts';

/** Events per CPU-second of one in-process stage, best of several passes over the same events. */
export interface CeilingFigure {
  eventsPerCpuSecond: number;
  passes: number[];
  /** Events the stage accepted (parseEvent ok), as a check that the work was real. */
  accepted: number;
}

export interface Ceilings {
  events: number;
  /** JSON.parse alone, on the UTF-8 text of each event. */
  jsonParse: CeilingFigure;
  /** parseEvent: size and UTF-8 checks, JSON.parse, walk, ajv schema, timestamps, event key. */
  parseEvent: CeilingFigure;
  /** parseEvent plus the window operators (relevance and store ops): all the sidecar's CPU work before Redis. */
  parseAndOps: CeilingFigure;
}

function measure(passes: number, records: readonly StreamRecord[], stage: (record: StreamRecord) => boolean): CeilingFigure {
  const rates: number[] = [];
  let accepted = 0;
  for (let pass = 0; pass < passes; pass++) {
    accepted = 0;
    const before = process.cpuUsage();
    for (const record of records) if (stage(record)) accepted += 1;
    const cpu = process.cpuUsage(before);
    rates.push(records.length / ((cpu.user + cpu.system) / 1e6));
  }
  return { eventsPerCpuSecond: Math.max(...rates), passes: rates.map(Math.round), accepted };
}

/**
 * The ceilings the sidecar's throughput is read against, measured in this process on the
 * very events the sidecar consumes. The first pass warms the JIT; the best pass is reported
 * (the sidecar runs long enough to be fully warm too).
 */
export function measureCeilings(records: readonly StreamRecord[], registry: FeatureRegistry, passes = 4): Ceilings {
  const operators = new WindowOperators(registry);
  return {
    events: records.length,
    jsonParse: measure(passes, records, (record) => {
      try {
        JSON.parse(record.value.toString('utf8'));
        return true;
      } catch {
        return false;
      }
    }),
    parseEvent: measure(passes, records, (record) => parseEvent(record.source, record.value).ok),
    parseAndOps: measure(passes, records, (record) => {
      const parsed = parseEvent(record.source, record.value);
      if (!parsed.ok) return false;
      if (operators.isRelevant(parsed.event)) operators.opsFor(parsed.event);
      return true;
    }),
  };
}
