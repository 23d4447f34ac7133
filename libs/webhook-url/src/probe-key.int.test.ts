import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedProbeKey } from './probe-key.js';

describe('sharedProbeKey', () => {
  let server: TestRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.close();
  });

  it('gives every process the same generated key, and the configured one when there is one', async () => {
    const [a, b, c] = await Promise.all([
      sharedProbeKey(redis),
      sharedProbeKey(redis),
      sharedProbeKey(redis),
    ]);
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(a.length).toBeGreaterThanOrEqual(32);
    expect(await sharedProbeKey(redis, 'configured-key-0123456789')).toBe(
      'configured-key-0123456789',
    );
  });
});
