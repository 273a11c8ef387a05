import { describe, expect, it } from 'vitest';
import { kafkaSecurity, KAFKA_SECURITY_OPTIONS, loadOptions, SIDECAR_OPTIONS } from '../../../sidecar/src/config/index.ts';

const BROKERS = ['127.0.0.1:9092'];

describe('kafkaSecurity', () => {
  it('is plaintext without SASL by default', () => {
    expect(kafkaSecurity({ brokers: BROKERS })).toEqual({ ssl: undefined });
  });

  it('passes SCRAM credentials through with TLS on when asked', () => {
    expect(kafkaSecurity({ brokers: BROKERS, kafkaTls: true, kafkaSaslMechanism: 'scram-sha-512', kafkaSaslUsername: 'u', kafkaSaslPassword: 'p' })).toEqual({
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' },
    });
  });

  it('refuses SCRAM without a password, naming the option and not echoing any secret', () => {
    expect(() => kafkaSecurity({ brokers: BROKERS, kafkaSaslMechanism: 'scram-sha-256', kafkaSaslUsername: 'u' })).toThrow(/kafkaSaslPassword/);
  });

  it('wires MSK IAM as OAUTHBEARER over TLS, asking the token provider for the configured region', async () => {
    const asked: string[] = [];
    const security = kafkaSecurity({ brokers: BROKERS, kafkaSaslMechanism: 'aws', awsRegion: 'eu-west-1' }, async (region) => {
      asked.push(region);
      return { token: 'signed-token', expiryTime: Date.now() + 900_000 };
    });
    expect(security.ssl).toBe(true);
    expect(security.sasl?.mechanism).toBe('oauthbearer');
    const provider = (security.sasl as { oauthBearerProvider: () => Promise<{ value: string }> }).oauthBearerProvider;
    expect(await provider()).toEqual({ value: 'signed-token' });
    expect(asked).toEqual(['eu-west-1']);
  });

  it('signs an MSK IAM token with the real signer library from static credentials, without reaching AWS', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' });
    try {
      const security = kafkaSecurity({ brokers: BROKERS, kafkaSaslMechanism: 'aws', awsRegion: 'us-east-1' });
      const { value } = await (security.sasl as { oauthBearerProvider: () => Promise<{ value: string }> }).oauthBearerProvider();
      const url = new URL(Buffer.from(value, 'base64url').toString('utf8'));
      expect(url.host).toBe('kafka.us-east-1.amazonaws.com');
      expect(url.searchParams.get('Action')).toBe('kafka-cluster:Connect');
      expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^AKIDEXAMPLE\//);
    } finally {
      process.env = saved;
    }
  });

  it('reads the security options from the CHURNFEAT_KAFKA_* variables of every Kafka service', () => {
    const options = loadOptions(SIDECAR_OPTIONS, [], {
      CHURNFEAT_KAFKA_SASL_MECHANISM: 'scram-sha-256',
      CHURNFEAT_KAFKA_SASL_USERNAME: 'u',
      CHURNFEAT_KAFKA_SASL_PASSWORD: 'p',
      CHURNFEAT_KAFKA_TLS_CA: 'ca.pem',
    });
    expect([options.kafkaSaslMechanism, options.kafkaSaslUsername, options.kafkaSaslPassword, options.kafkaTlsCa]).toEqual(['scram-sha-256', 'u', 'p', 'ca.pem']);
    expect(SIDECAR_OPTIONS.kafkaSaslPassword).toBe(KAFKA_SECURITY_OPTIONS.kafkaSaslPassword);
    expect(() => loadOptions(SIDECAR_OPTIONS, [], { CHURNFEAT_KAFKA_SASL_MECHANISM: 'plain' })).toThrow(/kafkaSaslMechanism/);
  });
});
