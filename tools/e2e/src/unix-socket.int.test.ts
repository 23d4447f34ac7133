import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { postCallback, until, useE2eWorld } from './stack.js';

// REDIS_URL=unix:///path/to/redis.sock: Redis on the same host, reached without TCP.
describe('gateway and worker over a Redis Unix socket', () => {
  const world = useE2eWorld({ redis: { unixSocket: true }, overSocket: true });

  it('registers, takes a callback and delivers it, every connection on the socket', async () => {
    const { redis, stack, pipeline } = world;
    const registration = await world.register('/socket');
    const response = await postCallback(stack, registration.callbackUrl, {
      event_id: 'evt-socket',
      event_type: 'parse.success',
      timestamp: Date.now() / 1000,
      data: { id: 'job-socket', job_id: 'job-socket' },
    });
    expect(response.status).toBe(202);
    await until(() => pipeline.receipts.length === 1);
    expect(pipeline.receipts[0]?.delivery.payload).toMatchObject({ event_id: 'evt-socket' });
    expect(pipeline.rejected).toEqual([]);

    // Every connection of both processes (and BullMQ's) came over the socket: the only TCP
    // client is this test's own.
    const tcp = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const clients = String(await tcp.client('LIST'))
        .trim()
        .split('\n');
      const overTcp = clients.filter((line) => /addr=127\.0\.0\.1:/.test(line));
      const overSocket = clients.filter((line) => /addr=\S*redis\.sock:0 /.test(line));
      expect(overTcp).toHaveLength(1);
      expect(overSocket.some((line) => / name=gateway/.test(line))).toBe(true);
      expect(overSocket.some((line) => / name=worker/.test(line))).toBe(true);
    } finally {
      tcp.disconnect();
    }
  });
});
