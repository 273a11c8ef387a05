import { readFileSync } from 'node:fs';
import { Kafka, type KafkaConfig, type SASLOptions } from 'kafkajs';
import { ChurnfeatError } from '../errors.ts';
import type { KAFKA_SECURITY_OPTIONS, KafkaSaslMechanism, OptionsOf } from './option-table.ts';

/** The Kafka connection fields of a service's options. */
export type KafkaConnectionOptions = OptionsOf<typeof KAFKA_SECURITY_OPTIONS> & { brokers: string[] };

/** Where and how to reach Kafka (KAFKA_SECURITY_OPTIONS in option-table.ts); absent fields mean plaintext, no SASL. */
export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly kafkaTls?: boolean;
  readonly kafkaTlsCa?: string;
  readonly kafkaSaslMechanism?: KafkaSaslMechanism;
  readonly kafkaSaslUsername?: string;
  readonly kafkaSaslPassword?: string;
  readonly awsRegion?: string;
}

/** Makes an MSK IAM token (a signed, base64url URL) for a region; the default is aws-msk-iam-sasl-signer-js. */
export type MskTokenProvider = (region: string) => Promise<{ token: string; expiryTime: number }>;

async function signerToken(region: string): Promise<{ token: string; expiryTime: number }> {
  // Loaded on use: only MSK IAM deployments pay for the AWS SDK credential chain.
  const { generateAuthToken } = await import('aws-msk-iam-sasl-signer-js');
  return generateAuthToken({ region });
}

/** The `ssl` and `sasl` parts of a kafkajs config for a connection. Throws `invalid_config` on an incomplete one. */
export function kafkaSecurity(connection: KafkaConnection, mskToken: MskTokenProvider = signerToken): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  const mechanism = connection.kafkaSaslMechanism ?? '';
  const ca = connection.kafkaTlsCa ? readFileSync(connection.kafkaTlsCa, 'utf8') : undefined;
  const tls = connection.kafkaTls === true || ca !== undefined || mechanism === 'aws';
  const ssl = tls ? (ca === undefined ? true : { ca: [ca] }) : undefined;
  if (mechanism === '') return { ssl };
  if (mechanism === 'aws') {
    const region = connection.awsRegion || process.env.AWS_REGION || '';
    if (region === '') throw new ChurnfeatError('invalid_config', 'invalid option "awsRegion": MSK IAM needs a region (env CHURNFEAT_AWS_REGION or AWS_REGION, flag --aws-region)');
    const sasl: SASLOptions = {
      mechanism: 'oauthbearer',
      oauthBearerProvider: async () => ({ value: (await mskToken(region)).token }),
    };
    return { ssl, sasl };
  }
  const username = connection.kafkaSaslUsername ?? '';
  const password = connection.kafkaSaslPassword ?? '';
  if (username === '' || password === '') {
    throw new ChurnfeatError(
      'invalid_config',
      `invalid option "${username === '' ? 'kafkaSaslUsername' : 'kafkaSaslPassword'}": SASL ${mechanism} needs a user name and a password (env CHURNFEAT_KAFKA_SASL_USERNAME, CHURNFEAT_KAFKA_SASL_PASSWORD)`,
    );
  }
  const sasl: SASLOptions = mechanism === 'scram-sha-256' ? { mechanism, username, password } : { mechanism, username, password };
  return { ssl, sasl };
}

/** The connection fields of a larger options object (to hand one service's Kafka settings to another). */
export function pickKafkaConnection(options: KafkaConnectionOptions): KafkaConnectionOptions {
  const { brokers, kafkaTls, kafkaTlsCa, kafkaSaslMechanism, kafkaSaslUsername, kafkaSaslPassword, awsRegion } = options;
  return { brokers, kafkaTls, kafkaTlsCa, kafkaSaslMechanism, kafkaSaslUsername, kafkaSaslPassword, awsRegion };
}

/** Every secret of a connection, for {@link redactSecrets}. */
export function kafkaSecrets(connection: KafkaConnection): string[] {
  return connection.kafkaSaslPassword ? [connection.kafkaSaslPassword] : [];
}

/**
 * The one place a kafkajs client is made: brokers, TLS and SASL come from the connection
 * options, the rest (client id, log level, retries) from the caller.
 */
export function createKafkaClient(connection: KafkaConnection, config: Omit<KafkaConfig, 'brokers' | 'ssl' | 'sasl'>, mskToken?: MskTokenProvider): Kafka {
  return new Kafka({ ...config, brokers: [...connection.brokers], ...kafkaSecurity(connection, mskToken) });
}
