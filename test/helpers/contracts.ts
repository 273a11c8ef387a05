/**
 * A contracts folder with a breaking schema version, for the tests of the parser's listed
 * versions: client v1 (frozen as versions/client.v1.schema.json) named the playback error's
 * code `code`; client v2, the live schema, renamed it `error_code` and marks itself breaking.
 * Billing and support keep their one live version.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const LIVE = 'contracts/events';

/** Writes the folder into `dir` and returns it. */
export function writeVersionedContracts(dir: string): string {
  mkdirSync(join(dir, 'versions'), { recursive: true });
  for (const file of ['envelope.schema.json', 'client.schema.json', 'billing.schema.json', 'support.schema.json']) cpSync(join(LIVE, file), join(dir, file));
  const client = JSON.parse(readFileSync(join(LIVE, 'client.schema.json'), 'utf8')) as { allOf: Array<Record<string, any>> };
  const v1 = structuredClone(client);
  const branch = v1.allOf.find((b) => b.if?.properties?.event_type?.const === 'playback_error');
  if (!branch) throw new Error('the live client schema has no playback_error branch');
  branch.then = { properties: { attributes: { type: 'object', required: ['code'], properties: { code: { type: 'string' } } } } };
  writeFileSync(join(dir, 'versions', 'client.v1.schema.json'), JSON.stringify(v1, null, 2));
  writeFileSync(
    join(dir, 'versions.json'),
    JSON.stringify({
      client: [
        { version: 1, schema: 'versions/client.v1.schema.json' },
        { version: 2, schema: 'client.schema.json', breaking: true, migration: 'playback_error attributes.code is now attributes.error_code; v1 events are still accepted' },
      ],
      billing: [{ version: 1, schema: 'billing.schema.json' }],
      support: [{ version: 1, schema: 'support.schema.json' }],
    }),
  );
  return dir;
}
