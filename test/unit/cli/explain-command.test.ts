import { describe, expect, it } from 'vitest';
import { summarize } from '../../../cli/commands/explain.ts';
import { explainState } from '../../../sidecar/src/store/index.ts';
import { fixtureRegistry } from '../../helpers/registry.ts';

describe('churnfeat explain, the text summary', () => {
  it('names the served value, the window, the tiles and the verdict of each feature, and says when it is not consistent', () => {
    const registry = fixtureRegistry();
    const feature = registry.features.find((f) => f.aggregation === 'count')!;
    const tile = Math.floor(1_700_000_000_000 / feature.granularityMs);
    const fields = { [`t:${feature.id}:${tile}`]: '2', [`r:${feature.id}`]: `${tile}|2|${tile}`, 's:client': 'abcd1234:3|41|1700000000000' };
    const served = { present: true, as_of_ms: 1_700_000_000_000, sources: {}, features: { [feature.name]: { value: 2, latest_event_ms: null } } };
    const online = explainState({ userId: 'u1', registryVersion: registry.version, features: [feature], fields, served, watermarks: new Map([['client:3', 1_699_999_999_000]]) });
    const text = summarize(online, null);
    expect(text).toContain(`user u1 at 2023-11-14T22:13:20.000Z (registry ${registry.version}`);
    expect(text).toContain('applied client partition 3 up to offset 41 (watermark 2023-11-14T22:13:19.000Z)');
    expect(text).toContain(`${feature.name} = 2`);
    expect(text).toContain('recomputed 2: equal to the served value');
    const wrong = explainState({
      userId: 'u1',
      registryVersion: registry.version,
      features: [feature],
      fields,
      served: { ...served, features: { [feature.name]: { value: 5, latest_event_ms: null } } },
      watermarks: new Map(),
    });
    expect(summarize(wrong, null)).toMatch(/NOT CONSISTENT: served 5, recomputed 2/);
  });
});
