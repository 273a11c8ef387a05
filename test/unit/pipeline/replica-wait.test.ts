import { Cluster, type Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ReplicaWait } from '../../../sidecar/src/pipeline/replica-wait.ts';
import { freePort } from '../../helpers/stack-services.ts'; // a loopback port nothing listens on any more

describe('ReplicaWait: the step between a batch and its commit', () => {
  it('never confirms a batch on a Cluster client that knows no master (a WAIT on no node would ask nobody)', async () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: await freePort() }], { lazyConnect: true, clusterRetryStrategy: () => 50 });
    onTestFinished(() => cluster.disconnect());
    cluster.on('error', () => undefined); // the client's own reports of each failed attempt
    const wait = new ReplicaWait(cluster as unknown as Redis, 1, 200);
    const result = await wait.confirm(wait.mark());
    expect(result.ok).toBe(false);
    expect(result).toMatchObject({ kind: 'wait_failed' });
    expect(!result.ok && result.reason).toMatch(/masters are unknown/);
  });

  it('is off with 0 replicas: single-node Redis confirms at once', async () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: await freePort() }], { lazyConnect: true });
    onTestFinished(() => cluster.disconnect());
    const wait = new ReplicaWait(cluster as unknown as Redis, 0, 200);
    expect(await wait.confirm(wait.mark())).toEqual({ ok: true });
  });
});
