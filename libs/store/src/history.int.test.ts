import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBreakers, recordBreakerTransition } from './breakers.js';
import {
  HISTORY_COARSE_BUCKET_MS,
  HISTORY_RETENTION_MS,
  createHistoryRecorder,
  latencyQuantile,
  readDestinationActivity,
  readHistory,
} from './history.js';
import { storeKeys } from './keys.js';

describe('the per-minute history in Redis', () => {
  let server: TestRedis;
  let redis: Redis;
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    await new Promise((resolve) => redis.once('ready', resolve));
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.close();
  });

  it('adds what two recorders counted into the same minutes, read back by anyone, and expires them', async () => {
    const keys = storeKeys(`h${Math.random().toString(36).slice(2, 8)}`);
    let clock = Date.UTC(2026, 0, 1, 10, 0, 30);
    const now = () => clock;
    const gateway = createHistoryRecorder({ redis, keys, now, flushMs: 60_000 });
    const worker = createHistoryRecorder({ redis, keys, now, flushMs: 60_000 });
    gateway.count('received', 3);
    gateway.rejected('not_found');
    gateway.rejected('not_found');
    worker.attempt('https://a.example/hook', 40, undefined);
    worker.attempt('https://a.example/hook', 900, 'HTTP 500: down');
    worker.count('delivered');
    await worker.oldestWaiting(12);
    await worker.oldestWaiting(7);
    clock += 60_000;
    gateway.count('received');
    await Promise.all([gateway.close(), worker.close()]);

    const minutes = await readHistory(redis, keys, clock - 120_000, clock);
    expect(minutes.map((m) => m.counters.received)).toEqual([0, 3, 1]);
    expect(minutes[1]?.rejected).toEqual({ not_found: 2 });
    expect(minutes[1]?.counters.delivered).toBe(1);
    expect(minutes[1]?.counters.attempt_failed).toBe(1);
    expect(minutes[1]?.oldestWaitingSeconds).toBe(12);
    expect(latencyQuantile(minutes[1]?.latency ?? [], 0.5)).toBe(50);
    expect(latencyQuantile(minutes[1]?.latency ?? [], 0.99)).toBe(1_000);
    const ttl = await redis.pttl(keys.history(minutes[1]?.at ?? 0));
    expect(ttl).toBeGreaterThan(HISTORY_RETENTION_MS - 60_000);
    expect(ttl).toBeLessThanOrEqual(HISTORY_RETENTION_MS);

    // The 24-hour charts read ten-minute buckets, filled alike.
    const coarse = await readHistory(redis, keys, clock, clock, HISTORY_COARSE_BUCKET_MS);
    expect(coarse.map((bucket) => bucket.counters.received)).toEqual([4]);
    expect(coarse[0]?.oldestWaitingSeconds).toBe(12);

    const activity = await readDestinationActivity(redis, keys, clock);
    expect(activity.get('https://a.example/hook')).toMatchObject({
      ok: 1,
      failed: 1,
      lastError: 'HTTP 500: down',
    });
  });

  it('keeps only breakers that are not closed, since they left closed', async () => {
    const keys = storeKeys(`b${Math.random().toString(36).slice(2, 8)}`);
    const breaker = {
      level: 'destination',
      label: 'https://b.example/x',
      origin: 'https://b.example',
      reason: 'failing',
    } as const;
    await recordBreakerTransition(
      redis,
      keys,
      { ...breaker, from: 'closed', state: 'open' },
      1_000,
    );
    await recordBreakerTransition(
      redis,
      keys,
      { ...breaker, from: 'open', state: 'half_open' },
      5_000,
    );
    expect(await readBreakers(redis, keys)).toEqual([
      { ...breaker, state: 'half_open', since: 1_000 },
    ]);
    await recordBreakerTransition(redis, keys, { ...breaker, from: 'half_open', state: 'closed' });
    expect(await readBreakers(redis, keys)).toEqual([]);
  });

  it('drops a destination from the last-seen hash 7 days after its last attempt, while others stay active', async () => {
    const keys = storeKeys(`h${Math.random().toString(36).slice(2, 8)}`);
    let clock = Date.UTC(2026, 0, 1, 10, 0, 0);
    const worker = createHistoryRecorder({
      redis,
      keys,
      now: () => clock,
      flushMs: 60_000,
      pruneEveryMs: 3_600_000,
    });
    worker.attempt('https://once.example/hook', 40, undefined);
    worker.attempt('https://busy.example/hook', 40, 'HTTP 500: down');
    await worker.flush();
    // Eight days on, the busy destination kept the hash alive every day; the other was not seen.
    for (let day = 1; day <= 8; day++) {
      clock += 86_400_000;
      worker.attempt('https://busy.example/hook', 40, undefined);
      await worker.flush();
    }
    await worker.close();
    const fields = Object.keys(await redis.hgetall(keys.destinationsLast)).sort();
    expect(fields).toEqual([
      'https://busy.example/hook\terror',
      'https://busy.example/hook\terror_at',
      'https://busy.example/hook\tok_at',
    ]);
    const activity = await readDestinationActivity(redis, keys, clock);
    expect(activity.has('https://once.example/hook')).toBe(false);
    expect(activity.get('https://busy.example/hook')?.lastError).toBe('HTTP 500: down');
  });
});
