import { describe, expect, it } from 'vitest';
import { resolveCanaryOptions } from '../../../sidecar/src/canary/index.ts';
import { DEFAULT_SERVE_OPTIONS, resolveServeOptions, serveOptionsFromEnv } from '../../../sidecar/src/serving/index.ts';

describe('serving service options', () => {
  it('defaults every option and reads overrides from CHURNFEAT_* variables', () => {
    expect(resolveServeOptions()).toEqual(DEFAULT_SERVE_OPTIONS);
    const env = { CHURNFEAT_SERVE_PORT: '9000', CHURNFEAT_KEY_PREFIX: 'cf2', CHURNFEAT_SERVE_MAX_BATCH: '100', CHURNFEAT_SERVE_READY_MAX_WATERMARK_AGE_MS: '0' };
    expect(resolveServeOptions(serveOptionsFromEnv(env))).toMatchObject({ port: 9000, keyPrefix: 'cf2', maxBatch: 100, readyMaxWatermarkAgeMs: 0 });
  });

  it('fails at once on a bad option, naming it', () => {
    expect(() => resolveServeOptions(serveOptionsFromEnv({ CHURNFEAT_SERVE_PORT: 'http' }))).toThrow('invalid option "port": must be integer');
    expect(() => resolveServeOptions({ maxBatch: 0 })).toThrow('invalid option "maxBatch"');
    expect(() => resolveServeOptions({ keyPrefix: 'a{b}' })).toThrow('invalid option "keyPrefix"');
  });

  it('turns the admin routes off without CHURNFEAT_ADMIN_TOKEN and refuses a short token without printing it', () => {
    expect(resolveServeOptions().adminToken).toBe('');
    expect(resolveServeOptions(serveOptionsFromEnv({ CHURNFEAT_ADMIN_TOKEN: 'a-long-enough-admin-token' })).adminToken).toBe('a-long-enough-admin-token');
    const short = () => resolveServeOptions(serveOptionsFromEnv({ CHURNFEAT_ADMIN_TOKEN: 'hunter2' }));
    expect(short).toThrow('invalid option "adminToken"');
    expect(short).not.toThrow('hunter2');
  });

  it('accepts "redis" or an http URL as the canary read path, nothing else', () => {
    expect(resolveCanaryOptions({ readVia: 'http://127.0.0.1:18090' }).readVia).toBe('http://127.0.0.1:18090');
    expect(() => resolveCanaryOptions({ readVia: 'kafka' })).toThrow('invalid option "readVia"');
  });
});
