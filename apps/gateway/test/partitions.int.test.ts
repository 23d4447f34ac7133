import { partitionOf } from '@callback-gateway/store';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, callbackPath, register, startGateway, type TestGateway } from './harness.js';

const auth = { authorization: `Bearer ${API_TOKEN}` };

describe('the gateway on a store in three partitions', () => {
  let redis: TestRedis;
  let gateway: TestGateway;
  beforeAll(async () => {
    redis = await startRedis();
    gateway = await startGateway({ redis, partitions: 3 });
  });
  afterAll(async () => {
    await gateway.close();
    await redis.close();
  });

  it('puts each registration and its callbacks in one partition, and lists every partition', async () => {
    const registrations = await Promise.all(Array.from({ length: 12 }, () => register(gateway)));
    const used = new Set(registrations.map((registration) => partitionOf(registration.id)));
    expect(used.size).toBeGreaterThan(1);
    for (const registration of registrations) {
      const path = callbackPath(registration.callback_url);
      // The token carries the registration's partition.
      expect(partitionOf(path.split('/').pop() ?? '')).toBe(partitionOf(registration.id));
      const response = await gateway.app.inject({
        method: 'POST',
        url: path,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({
          event_id: `e-${registration.id}`,
          event_type: 'parse.running',
          data: { job_id: 'job-1' },
        }),
      });
      expect(response.statusCode).toBe(202);
      const { callback_id: callbackId } = response.json<{ callback_id: string }>();
      expect(partitionOf(callbackId)).toBe(partitionOf(registration.id));
      // Queued on its partition's ingest stream.
      const own = gateway.keys.of(registration.id);
      const entries = await gateway.redis.xrange(own.ingest, '-', '+');
      expect(entries.some(([, fields]) => fields.includes(callbackId))).toBe(true);
    }
    const waiting = await gateway.app.inject({
      method: 'GET',
      url: '/v1/registrations?state=waiting&limit=100',
      headers: auth,
    });
    expect(waiting.statusCode).toBe(200);
    const listed = waiting.json<{ total: number; registrations: { id: string }[] }>();
    // Received a callback, still waiting for the final one: listed from every partition.
    expect(listed.total).toBe(12);
    expect(listed.registrations.map((entry) => entry.id).sort()).toEqual(
      registrations.map((registration) => registration.id).sort(),
    );
  });
});
