/**
 * Version of the Redis store protocol: op codes, state field grammar and the argument order
 * of the Redis Functions (sidecar/src/store/store-protocol.ts re-exports it, and
 * test/unit/store/store-protocol.test.ts pins the rendered Lua to it). Bump it whenever the
 * Lua or the protocol module changes, then run `churnfeat compile`.
 */
export const STORE_PROTOCOL_VERSION = 9;

/**
 * Version of the window semantics the runtimes implement (docs/feature-semantics.md, the
 * executable spec in sidecar/src/windows/semantics-spec.ts): bump it when a rule changes.
 */
export const WINDOW_SEMANTICS_VERSION = 1;

/**
 * Both versions as one: part of the registry version id, so the one version id (and with it
 * the Redis function names) changes with the definitions, the window semantics and the store
 * protocol alike; a pod of the old protocol never replaces the functions of a pod of the new
 * one during a rolling deploy.
 */
export const SEMANTICS_VERSION = `w${WINDOW_SEMANTICS_VERSION}.s${STORE_PROTOCOL_VERSION}`;
