import { DEFAULT_MAX_BATCH, type FeatureClient } from '../serving/index.ts';

/** Reads in batches the read path accepts (a topic may have more partitions than one batch holds). */
async function inBatches(userIds: readonly string[], size: number, read: (batch: readonly string[]) => Promise<Array<number | null>>): Promise<Array<number | null>> {
  const out: Array<number | null> = [];
  for (let start = 0; start < userIds.length; start += size) out.push(...(await read(userIds.slice(start, start + size))));
  return out;
}

/** How the canary looks for its probes: the latest counted event time of one feature per user. */
export interface ProbeReader {
  latestEventMs(userIds: readonly string[], feature: string): Promise<Array<number | null>>;
}

/** Reads through the TypeScript client (Redis path: FCALL_RO cf_read). */
export class ClientProbeReader implements ProbeReader {
  constructor(private readonly client: FeatureClient) {}

  latestEventMs(userIds: readonly string[], feature: string): Promise<Array<number | null>> {
    return inBatches(userIds, this.client.maxBatch, async (batch) => (await this.client.getMany(batch)).map((answer) => answer.features[feature]?.latest_event_ms ?? null));
  }
}

/** Reads through the HTTP service (POST /v1/features:batch), so the SLI covers it too. */
export class HttpProbeReader implements ProbeReader {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 2_000,
    /** The service's CHURNFEAT_SERVE_MAX_BATCH. */
    private readonly maxBatch = DEFAULT_MAX_BATCH,
  ) {}

  latestEventMs(userIds: readonly string[], feature: string): Promise<Array<number | null>> {
    return inBatches(userIds, this.maxBatch, (batch) => this.readBatch(batch, feature));
  }

  private async readBatch(userIds: readonly string[], feature: string): Promise<Array<number | null>> {
    const response = await fetch(new URL('/v1/features:batch', this.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_ids: userIds }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!response.ok) throw new Error(`POST /v1/features:batch answered ${response.status}: ${await response.text()}`);
    const body = (await response.json()) as { results: Array<{ features: Record<string, { latest_event_ms: number | null } | undefined> }> };
    return body.results.map((result) => result.features[feature]?.latest_event_ms ?? null);
  }
}
