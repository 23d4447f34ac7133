import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DELIVERY_VERIFICATION_ERROR_CODES,
  DeliveryVerificationError,
  GATEWAY_CLIENT_ERROR_CODES,
  GatewayClientError,
  isDeliveryVerificationError,
  isGatewayClientError,
} from './errors.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** Codes in the first column of the tables under the README's "Error codes" heading. */
function documentedCodes(prefix: 'GATEWAY' | 'DELIVERY'): string[] {
  const section = readme.split(/^## /m).find((part) => part.startsWith('Error codes')) ?? '';
  const row = new RegExp(`^\\|\\s*\`(${prefix}_[A-Z_]+)\`\\s*\\|`, 'gm');
  return [...section.matchAll(row)].map((match) => match[1] as string);
}

describe('error codes', () => {
  it('of the gateway calls are documented in the README, every one and only those', () => {
    expect(documentedCodes('GATEWAY').sort()).toEqual([...GATEWAY_CLIENT_ERROR_CODES].sort());
  });

  it('of delivery verification are documented in the README, every one and only those', () => {
    expect(documentedCodes('DELIVERY').sort()).toEqual(
      [...DELIVERY_VERIFICATION_ERROR_CODES].sort(),
    );
  });

  it('are unique and prefixed', () => {
    const all = [...GATEWAY_CLIENT_ERROR_CODES, ...DELIVERY_VERIFICATION_ERROR_CODES];
    expect(new Set(all).size).toBe(all.length);
    for (const code of GATEWAY_CLIENT_ERROR_CODES) expect(code).toMatch(/^GATEWAY_[A-Z_]+$/);
    for (const code of DELIVERY_VERIFICATION_ERROR_CODES)
      expect(code).toMatch(/^DELIVERY_[A-Z_]+$/);
  });

  it('keep the cause and are not retryable unless said so', () => {
    const cause = new Error('socket hang up');
    const error = new GatewayClientError('GATEWAY_NETWORK', 'x', { cause, retryable: true });
    expect(error).toMatchObject({ code: 'GATEWAY_NETWORK', retryable: true, cause });
    expect(new GatewayClientError('GATEWAY_NOT_FOUND', 'x').retryable).toBe(false);
    expect(new DeliveryVerificationError('DELIVERY_BODY_INVALID', 'x', { cause }).cause).toBe(
      cause,
    );
  });

  it('are recognised by their guards', () => {
    expect(isGatewayClientError(new GatewayClientError('GATEWAY_TIMEOUT', 'x'))).toBe(true);
    expect(isGatewayClientError(new Error('x'))).toBe(false);
    expect(
      isDeliveryVerificationError(new DeliveryVerificationError('DELIVERY_SIGNATURE_INVALID', 'x')),
    ).toBe(true);
  });
});
