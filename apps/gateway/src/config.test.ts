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

describe('GATEWAY_CALLBACK_INFLIGHT_BYTES', () => {
  it('bounds callback bodies in flight at 32 MiB unless told otherwise', () => {
    expect(loadGatewayConfig({}).GATEWAY_CALLBACK_INFLIGHT_BYTES).toBe(32 * 1024 * 1024);
    expect(
      loadGatewayConfig({ GATEWAY_CALLBACK_INFLIGHT_BYTES: '20971520' })
        .GATEWAY_CALLBACK_INFLIGHT_BYTES,
    ).toBe(20 * 1024 * 1024);
  });

  it('refuses a bound below the body limit: a body at the limit could never be taken', () => {
    expect(() =>
      loadGatewayConfig({
        GATEWAY_BODY_LIMIT_BYTES: '2097152',
        GATEWAY_CALLBACK_INFLIGHT_BYTES: '1048576',
      }),
    ).toThrow(
      /GATEWAY_CALLBACK_INFLIGHT_BYTES: must be at least GATEWAY_BODY_LIMIT_BYTES \(2097152\)/,
    );
  });
});

describe('GATEWAY_LOCAL_ONLY', () => {
  it('is off by default', () => {
    expect(loadGatewayConfig({}).GATEWAY_LOCAL_ONLY).toBe(false);
  });

  it('is refused beside a public URL source, which it would hide', () => {
    expect(() =>
      loadGatewayConfig({
        GATEWAY_LOCAL_ONLY: 'true',
        PUBLIC_BASE_URL: 'https://hooks.example.com',
      }),
    ).toThrow(/GATEWAY_LOCAL_ONLY: local-only mode is for a machine without a public callback URL/);
    expect(loadGatewayConfig({ GATEWAY_LOCAL_ONLY: 'true' }).GATEWAY_LOCAL_ONLY).toBe(true);
  });
});

describe('PUBLIC_BASE_URL and the partitions', () => {
  // The longest base URL whose callback URLs stay under 200 characters: 199 - 68 on one
  // partition; 4 fewer with 16 (tokens of partition 15 end with `.p15`).
  const base = (length: number) =>
    `https://example.com/${'a'.repeat(length - 'https://example.com/'.length)}`;
  it('keeps room for the partition marker only when there are partitions', () => {
    expect(() => loadGatewayConfig({ PUBLIC_BASE_URL: base(131) })).not.toThrow();
    expect(() => loadGatewayConfig({ PUBLIC_BASE_URL: base(131), STORE_PARTITIONS: '16' })).toThrow(
      /PUBLIC_BASE_URL/,
    );
    expect(() =>
      loadGatewayConfig({ PUBLIC_BASE_URL: base(127), STORE_PARTITIONS: '16' }),
    ).not.toThrow();
  });
});

describe('REDIS_URL beside REDIS_CLUSTER_NODES', () => {
  const cluster = { REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001' };

  it('takes credentials and TLS from it', () => {
    const config = loadGatewayConfig({ ...cluster, REDIS_URL: 'rediss://app:s3cret@redis:6380/0' });
    expect(config.REDIS_CLUSTER_NODES).toHaveLength(2);
  });

  it('refuses what a cluster cannot honour: a database other than 0, a Unix socket', () => {
    expect(() => loadGatewayConfig({ ...cluster, REDIS_URL: 'redis://redis:6379/3' })).toThrow(
      /REDIS_URL: names database 3, but a Redis Cluster has only database 0/,
    );
    expect(() => loadGatewayConfig({ ...cluster, REDIS_URL: 'redis://redis:6379/0?db=2' })).toThrow(
      /REDIS_URL: names database 2/,
    );
    expect(() =>
      loadGatewayConfig({ ...cluster, REDIS_URL: 'unix:///run/redis.sock?db=2' }),
    ).toThrow(/REDIS_URL: a Unix socket cannot reach a Redis Cluster/);
    // Without a cluster both are fine.
    expect(loadGatewayConfig({ REDIS_URL: 'redis://redis:6379/3' }).REDIS_URL).toMatch(/\/3$/);
  });
});
