import { describe, expect, it } from 'vitest';
import { loadGatewayConfig } from './config.js';

describe('GATEWAY_TRUSTED_PROXIES', () => {
  it('trusts no proxy by default', () => {
    expect(loadGatewayConfig({}).GATEWAY_TRUSTED_PROXIES).toEqual([]);
  });

  it('takes addresses and CIDR blocks', () => {
    expect(
      loadGatewayConfig({ GATEWAY_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8,fd00::/8' })
        .GATEWAY_TRUSTED_PROXIES,
    ).toEqual(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
  });

  it('refuses host names and malformed blocks, naming the setting and the entry', () => {
    expect(() => loadGatewayConfig({ GATEWAY_TRUSTED_PROXIES: 'ingress.internal' })).toThrow(
      /GATEWAY_TRUSTED_PROXIES: expected a proxy's IP address or a CIDR block .*not a host name.*ingress\.internal/,
    );
    expect(() => loadGatewayConfig({ GATEWAY_TRUSTED_PROXIES: '10.0.0.0/33' })).toThrow(
      /GATEWAY_TRUSTED_PROXIES: expected a CIDR block/,
    );
  });
});
