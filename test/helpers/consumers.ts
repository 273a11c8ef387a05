/** The project's consumers started for a test (stopped when it ends), for the consumer conformance suite. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { LakeWriter, LocalLakeStorage, resolveLakeWriterOptions, type LakeWriterOptions } from '../../sidecar/src/lake/index.ts';
import { Sidecar } from '../../sidecar/src/pipeline/index.ts';
import { BROKERS, type TestNamespace } from './stack.ts';

/** The production registry: the conformance cases run the consumers as deployed. */
export const conformanceRegistry = loadFeatureRegistry('dbt_project');

/** A temporary directory, removed when the test ends. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A started lake writer of the namespace landing under `root`; `label` names its client (several may share the group). */
export async function startLakeWriter(ns: TestNamespace, root: string, overrides: Partial<LakeWriterOptions> = {}, label = 'lake'): Promise<LakeWriter> {
  const options = resolveLakeWriterOptions({
    brokers: BROKERS,
    topicNamespace: ns.options.topicNamespace,
    groupId: `${ns.id}-lake`,
    clientId: `${ns.id}-${label}`,
    flushRecords: 2_000,
    flushIntervalMs: 500,
    sessionTimeoutMs: 6_000,
    ...overrides,
  });
  const writer = new LakeWriter(options, { storage: new LocalLakeStorage(root) });
  await writer.start();
  onTestFinished(() => writer.stop());
  return writer;
}

/** A started sidecar of the namespace on the production registry. */
export async function startSidecar(ns: TestNamespace): Promise<Sidecar> {
  const sidecar = new Sidecar(ns.options, conformanceRegistry);
  await sidecar.start();
  onTestFinished(() => sidecar.stop());
  return sidecar;
}
