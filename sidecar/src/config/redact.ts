/**
 * Credentials never reach a log line, an error message or a metric label: every URL or
 * free text that may hold one goes through these helpers first.
 */

const HIDDEN = '***';

/** `scheme://user:password@host` -> `scheme://user:***@host` (and `scheme://password@host`, `scheme://:password@host`). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@\s]*)@/i, (_match, scheme: string, userInfo: string) => {
    const colon = userInfo.indexOf(':');
    // ioredis reads a lone userinfo (redis://secret@host) as the password
    if (colon < 0) return `${scheme}${HIDDEN}@`;
    return `${scheme}${userInfo.slice(0, colon)}:${HIDDEN}@`;
  });
}

/**
 * Free text with every URL's credentials hidden, and every given secret (a SASL password,
 * a token) replaced wherever it appears. Empty secrets are ignored.
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^/@\s]*)@/gi, (match) => redactUrl(match));
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join(HIDDEN);
  return out;
}
