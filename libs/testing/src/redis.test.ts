import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from './redis.js';

describe('startRedis', () => {
  let redis: TestRedis | undefined;
  afterEach(async () => {
    await redis?.close();
    redis = undefined;
  });

  it('starts a server on its own free port that answers commands', async () => {
    redis = await startRedis();
    expect(redis.port).not.toBe(6379);
    const client = new Redis(redis.url, { lazyConnect: true });
    await client.connect();
    await client.set('k', 'v');
    expect(await client.get('k')).toBe('v');
    client.disconnect();
  });

  it('keeps acknowledged writes across a SIGKILL when persistent', async () => {
    redis = await startRedis({ persistent: true });
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    await client.connect();
    await client.set('survivor', '1');
    client.disconnect();
    await redis.kill();
    expect(redis.running).toBe(false);
    await redis.start();
    const again = new Redis(redis.url, { lazyConnect: true });
    await again.connect();
    expect(await again.get('survivor')).toBe('1');
    again.disconnect();
  });

  it('loses data on restart when not persistent, and keeps its port', async () => {
    redis = await startRedis();
    const port = redis.port;
    const client = new Redis(redis.url, { lazyConnect: true });
    await client.connect();
    await client.set('ephemeral', '1');
    client.disconnect();
    await redis.restart();
    expect(redis.port).toBe(port);
    const again = new Redis(redis.url, { lazyConnect: true });
    await again.connect();
    expect(await again.get('ephemeral')).toBeNull();
    again.disconnect();
  });

  it('reports a missing binary with how to install it', async () => {
    await expect(startRedis({ binary: 'redis-server-that-does-not-exist' })).rejects.toThrow(
      /apt-get install redis-server/,
    );
  });
});
