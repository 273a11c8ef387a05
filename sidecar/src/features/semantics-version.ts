/**
 * Version of the window and store semantics the runtimes implement (the Redis Function
 * protocol, the field grammar, the read rules). Part of the registry version id: bump it
 * whenever the Lua protocol changes, then run `churnfeat compile` (for now
 * `npm run compile-features`), so that Redis function names change with the protocol and a
 * pod of the old protocol never replaces the functions of a pod of the new one.
 */
export const SEMANTICS_VERSION = 1;
