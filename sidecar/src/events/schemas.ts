import type { AnySchemaObject } from 'ajv';
import billingSchema from '../../../contracts/events/billing.schema.json' with { type: 'json' };
import clientSchema from '../../../contracts/events/client.schema.json' with { type: 'json' };
import envelopeSchema from '../../../contracts/events/envelope.schema.json' with { type: 'json' };
import supportSchema from '../../../contracts/events/support.schema.json' with { type: 'json' };
import type { Source } from './source-names.ts';

/** The envelope every source schema references (`contracts/events/envelope.schema.json`). */
export const ENVELOPE_SCHEMA: AnySchemaObject = envelopeSchema;

/** The JSON Schema of each source topic, as stored in `contracts/events/`. */
export const SOURCE_SCHEMAS: Readonly<Record<Source, AnySchemaObject>> = {
  client: clientSchema,
  billing: billingSchema,
  support: supportSchema,
};
