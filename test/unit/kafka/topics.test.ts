import { describe, expect, it } from 'vitest';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { LOCAL_PARTITIONS, topicNames } from '../../../sidecar/src/kafka/index.ts';

describe('topic names', () => {
  it('derives one topic per source plus the dead-letter and late-events topics from the namespace', () => {
    expect(topicNames('churnfeat')).toEqual({
      sources: { client: 'churnfeat.client.events', billing: 'churnfeat.billing.events', support: 'churnfeat.support.events' },
      deadLetter: 'churnfeat.dead-letter',
      late: 'churnfeat.late-events',
    });
  });

  it('covers every source and gives no two roles the same topic', () => {
    const names = topicNames('test.x1');
    expect(Object.keys(names.sources).sort()).toEqual([...SOURCES].sort());
    const all = [...Object.values(names.sources), names.deadLetter, names.late];
    expect(new Set(all).size).toBe(all.length);
    expect(all.every((topic) => /^[a-zA-Z0-9._-]{1,249}$/.test(topic))).toBe(true);
  });

  it('has a local partition count for every topic role', () => {
    expect(Object.keys(LOCAL_PARTITIONS).sort()).toEqual([...SOURCES, 'deadLetter', 'late'].sort());
    expect(Object.values(LOCAL_PARTITIONS).every((n) => Number.isInteger(n) && n >= 1)).toBe(true);
  });
});
