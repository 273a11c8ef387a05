import { describe, expect, it } from 'vitest';
import { redactSecrets, redactUrl } from '../../../sidecar/src/config/index.ts';

describe('redactUrl', () => {
  it('hides the password of a URL and keeps the user, host and port', () => {
    expect(redactUrl('redis://churnfeat-sidecar:s3cr3t@127.0.0.1:6379/0')).toBe('redis://churnfeat-sidecar:***@127.0.0.1:6379/0');
    expect(redactUrl('rediss://:s3cr3t@cache.example:6380')).toBe('rediss://:***@cache.example:6380');
  });

  it('hides a lone userinfo, which ioredis reads as the password', () => {
    expect(redactUrl('redis://s3cr3t@127.0.0.1:6379')).toBe('redis://***@127.0.0.1:6379');
  });

  it('leaves a URL without credentials alone', () => {
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});

describe('redactSecrets', () => {
  it('hides every URL password in free text and every given secret', () => {
    const text = 'cannot reach redis://u:s3cr3t@h:1 nor rediss://v:other@h:2; SASL password hunter2 refused';
    const out = redactSecrets(text, ['hunter2', '']);
    expect(out).toBe('cannot reach redis://u:***@h:1 nor rediss://v:***@h:2; SASL password *** refused');
    for (const secret of ['s3cr3t', 'other', 'hunter2']) expect(out).not.toContain(secret);
  });
});
