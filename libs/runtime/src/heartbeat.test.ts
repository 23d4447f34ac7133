import { Writable } from 'node:stream';
import { createLogger } from '@callback-gateway/audit';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHeartbeat } from './heartbeat.js';

describe('heartbeat', () => {
  let server: TestRedis;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server.close();
  });

  it('goes degraded, then dead, while Redis is away, and ok again when it returns', async () => {
    const redis = new Redis(server.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 50,
    });
    redis.on('error', () => undefined);
    await new Promise((resolve) => redis.once('ready', resolve));
    const lines: string[] = [];
    const logger = createLogger({
      name: 't',
      destination: new Writable({
        write: (chunk, _e, done) => (lines.push(String(chunk)), done()),
      }),
    });
    const heartbeat = startHeartbeat({
      redis,
      key: '{hb}:workers',
      logger,
      intervalMs: 50,
      degradedAfterMs: 400,
      deadAfterMs: 900,
      id: 'w1',
    });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(heartbeat.status().state).toBe('ok');
    expect(await redis.zscore('{hb}:workers', 'w1')).not.toBeNull();

    await server.stop();
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(heartbeat.status().state).toBe('degraded');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(heartbeat.status().state).toBe('dead');

    await server.start();
    const deadline = Date.now() + 5_000;
    while (heartbeat.status().state !== 'ok' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(heartbeat.status().state).toBe('ok');
    expect(lines.some((line) => line.includes('ok -> degraded'))).toBe(true);
    expect(lines.some((line) => line.includes('degraded -> dead'))).toBe(true);
    heartbeat.close();
    redis.disconnect();
  });
});
