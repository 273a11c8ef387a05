import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import { describe, expect, it } from 'vitest';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const fixtures = join(repo, 'test', 'fixtures', 'depcruise');

/** Runs the project's own rules (.dependency-cruiser.cjs) on one fake tree under test/fixtures/depcruise/. */
async function violationsIn(fixture: string): Promise<Array<{ rule: string; from: string; to: string }>> {
  const options = await extractDepcruiseOptions(join(repo, '.dependency-cruiser.cjs'));
  const baseDir = join(fixtures, fixture);
  const result = await cruise(readdirSync(baseDir), { ...options, baseDir });
  const output = result.output as ICruiseResult;
  return (output.summary.violations ?? []).map((violation) => ({ rule: violation.rule.name, from: violation.from, to: violation.to }));
}

describe('the dependency rules of .dependency-cruiser.cjs', () => {
  it('accept a tree that imports only downward (events <- windows <- store <- parity <- cli)', async () => {
    expect(await violationsIn('clean')).toEqual([]);
  });

  it('reject an upward import inside the sidecar: windows/ importing store/', async () => {
    expect(await violationsIn('upward-import')).toEqual([{ rule: 'sidecar-layer-windows', from: 'sidecar/src/windows/event-ops.ts', to: 'sidecar/src/store/redis-layout.ts' }]);
  });

  it('reject the sidecar importing parity/', async () => {
    expect(await violationsIn('sidecar-imports-parity')).toEqual([{ rule: 'sidecar-not-to-parity', from: 'sidecar/src/pipeline/demo.ts', to: 'parity/src/run-parity.ts' }]);
  });

  it('reject an import cycle, even through `import type`', async () => {
    const violations = await violationsIn('import-cycle');
    expect(violations.map((violation) => violation.rule)).toEqual(['no-circular']);
    expect([violations[0]?.from, violations[0]?.to].sort()).toEqual(['sidecar/src/events/schemas.ts', 'sidecar/src/events/sources.ts']);
  });
});
