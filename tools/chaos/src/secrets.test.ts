import { describe, expect, it } from 'vitest';
import { SecretSet } from './secrets.js';

describe('SecretSet', () => {
  it('names the secrets found in any text, once each, and ignores values too short to matter', () => {
    const secrets = new SecretSet();
    secrets.add('API token', 'chaos-api-token-0123456789abcdef');
    secrets.add('delivery secret', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    secrets.add('short', 'abc');
    secrets.add('absent', undefined);
    expect(secrets.size).toBe(2);
    expect(
      secrets.foundIn([
        '{"level":40,"msg":"retrying with Bearer chaos-api-token-0123456789abcdef"}',
        'the token again: chaos-api-token-0123456789abcdef, and abc',
        '{"audit":{"type":"delivery.failed"}}',
      ]),
    ).toEqual(['API token']);
    expect(secrets.foundIn(['whsec_[REDACTED]', 'nothing here'])).toEqual([]);
  });

  it("remembers a registration's delivery and signing secrets and the token ending its callback URL", () => {
    const secrets = new SecretSet();
    secrets.addRegistration({
      deliverySecret: 'whsec_deliveryAAAAAAAAAAAAAAAAAAAA',
      signingSecret: 'signing-secret-BBBBBBBBBBBB',
      callback: 'https://hooks.example.com/v1/callbacks/llamaparse/cbt_CCCCCCCCCCCCCCCC',
    });
    expect(secrets.size).toBe(3);
    expect(
      secrets.foundIn([
        'POST /v1/callbacks/llamaparse/cbt_CCCCCCCCCCCCCCCC',
        'key signing-secret-BBBBBBBBBBBB',
      ]),
    ).toEqual(['callback token', 'signing secret']);
  });
});
