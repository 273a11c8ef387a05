import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadEventContracts, parseEvent } from '../../../sidecar/src/events/index.ts';
import { writeVersionedContracts } from '../../helpers/contracts.ts';
import { bytesOf, validEvent } from '../../helpers/events.ts';

const dir = writeVersionedContracts(mkdtempSync(join(tmpdir(), 'churnfeat-contracts-')));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const contracts = loadEventContracts(dir);

const oldError = () => bytesOf(validEvent('client', 'playback_error', { attributes: { code: 'E_DRM_401' } }));
const newError = () => bytesOf(validEvent('client', 'playback_error'));

describe('the parser and the listed schema versions', () => {
  it('compiles every listed version once, newest first', () => {
    expect(contracts.client.map((v) => v.version)).toEqual([2, 1]);
    expect(contracts.billing.map((v) => v.version)).toEqual([1]);
  });

  it('accepts an event of the older listed version after a breaking version', () => {
    const parsed = parseEvent('client', oldError(), { contracts });
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.event.attributes).toEqual({ code: 'E_DRM_401' });
    expect(parsed).toMatchObject({ olderSchemaVersion: 1 });
  });

  it('accepts an event of the newest version with the newest schema', () => {
    const parsed = parseEvent('client', newError(), { contracts });
    expect(parsed.ok).toBe(true);
    expect(parsed).not.toHaveProperty('olderSchemaVersion');
  });

  it('dead-letters an event valid in no listed version, saying which versions it tried and why each refused', () => {
    const parsed = parseEvent('client', bytesOf(validEvent('client', 'playback_error', { attributes: {} })), { contracts });
    expect(parsed).toMatchObject({ ok: false, reason: 'schema_violation' });
    if (!parsed.ok)
      expect(parsed.detail).toMatch(/^matches no listed version \(tried v2, v1\): v2: \/attributes must have required property 'error_code'; v1: \/attributes must have required property 'code'/);
  });

  it('keeps the one-version detail and reasons when a source lists one version', () => {
    const parsed = parseEvent('billing', bytesOf(validEvent('billing', 'payment_failed', { attributes: {} })), { contracts });
    expect(parsed).toMatchObject({ ok: false, reason: 'schema_violation' });
    if (!parsed.ok) expect(parsed.detail).not.toMatch(/tried/);
    const badTime = parseEvent('client', bytesOf(validEvent('client', 'playback_error', { event_ts: 'yesterday' })), { contracts });
    expect(badTime).toMatchObject({ ok: false, reason: 'invalid_timestamp' });
  });

  it("the repository's own contracts are what the parser uses by default", () => {
    const repo = loadEventContracts();
    expect(repo.client.length).toBeGreaterThan(0);
    expect(parseEvent('client', oldError()).ok).toBe(repo.client.some((v) => v.validate(JSON.parse(oldError().toString()))));
  });
});
