import { describe, expect, it } from 'vitest';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { FeatureWriter, loadFunctionLibrary, userKeys } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { testRedis } from '../../helpers/redis.ts';
import { ALLOWED_LATENESS_MS, DEDUP_MARGIN_MS, HOUR, rawEvent, sourceOf, testPrefix, writeDirect } from '../../helpers/reference.ts';

const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);

describe('userKeys', () => {
  it('lists every key the apply function leaves for a user, of every source (what deleting a user must delete)', async () => {
    const redis = testRedis();
    const prefix = testPrefix(redis, 'uk');
    await loadFunctionLibrary(redis, registry, prefix);
    const writer = new FeatureWriter(redis, operators, { prefix, allowedLatenessMs: ALLOWED_LATENESS_MS, dedupMarginMs: DEDUP_MARGIN_MS, pruneAboveFields: 256 });
    const t = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const types = ['playback_error', 'payment_failed', 'ticket_created'];
    const records = types.map((eventType, offset) => ({
      source: sourceOf(eventType),
      value: rawEvent({ eventId: `k-${offset}`, userId: 'u-keys', eventType, eventTs: t, ingestMs: t }),
      partition: 0,
      offset,
    }));
    expect(await writeDirect(writer, operators, [records], (source) => `keys.${source}`)).toEqual(['applied', 'applied', 'applied']);
    // the writer writes its registry version's keyspace
    const keyspace = writer.keyspace;
    const written = await redis.keys(`${keyspace}:{u-keys}*`);
    // the state hash, its read head (store protocol 7) and one dedup hash per source
    expect(written.length).toBe(5);
    expect(userKeys(keyspace, 'u-keys')).toEqual(expect.arrayContaining(written));
    await redis.del(...userKeys(keyspace, 'u-keys'));
    expect(await redis.keys(`${keyspace}:{u-keys}*`)).toEqual([]);
  });
});
