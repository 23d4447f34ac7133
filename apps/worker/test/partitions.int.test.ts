import {
  createIntake,
  createRegistrationStore,
  newCallbackToken,
  partitionOf,
  storeKeys,
} from '@callback-gateway/store';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  newCallback,
  newRegistration,
  startDeliveryHarness,
  startPipeline,
  type DeliveryHarness,
  type Pipeline,
} from './harness.js';

describe('a store in four partitions', () => {
  let redis: TestRedis;
  let pipeline: Pipeline;
  let harness: DeliveryHarness;
  beforeAll(async () => {
    redis = await startRedis();
    pipeline = await startPipeline();
    harness = await startDeliveryHarness(redis, { partitions: 4, schedule: [0, 0.2, 0.2] });
  });
  afterAll(async () => {
    await harness.close();
    await pipeline.close();
    await redis.close();
  });

  it('delivers from every partition, each through its own stream and queue, and lists them together', async () => {
    pipeline.on('/flaky', (_request, count) => ({ status: count === 1 ? 503 : 200 }));
    const registrations = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        harness.register(pipeline.url(i === 0 ? '/flaky' : `/p/${i}`)),
      ),
    );
    const used = new Set(registrations.map((registration) => partitionOf(registration.id)));
    expect(used.size).toBeGreaterThan(1);
    const ids = await Promise.all(
      registrations.map((registration, i) =>
        harness.callback(registration, `part-${i}`, 'parse.running'),
      ),
    );
    // A callback is in its registration's partition, and so are its keys.
    ids.forEach((id, i) => expect(partitionOf(id)).toBe(partitionOf(registrations[i]?.id ?? '')));
    await harness.until(async () => {
      const states = await Promise.all(ids.map((id) => harness.deliveries.get(id)));
      return states.every((delivery) => delivery?.state === 'delivered');
    }, 20_000);
    expect(pipeline.received).toHaveLength(17); // 16, and the flaky one's retry
    expect(await harness.deliveries.countByState('delivered')).toBe(16);
    const listed = await harness.deliveries.listByState('delivered', 100);
    expect(listed.map((delivery) => delivery.id).sort()).toEqual([...ids].sort());
    // Each partition used has its own delivery queue, with the jobs that delivered its
    // callbacks (the retry in the flaky registration's partition).
    for (const partition of used) {
      const queue = harness.service.queues[partition];
      expect(await queue?.getCompletedCount()).toBeGreaterThan(0);
    }
    const flakyPartition = partitionOf(registrations[0]?.id ?? '');
    const retryJobs = await harness.service.queues[flakyPartition]?.getJobs(['completed']);
    expect(retryJobs?.some((job) => job.id?.startsWith(`r-${ids[0]}`))).toBe(true);
    // The keys of a partition carry its tag: nothing of partition p outside p's slot.
    for (const [i, id] of ids.entries()) {
      const own = harness.keys.of(id);
      expect(await harness.redis.exists(`${own.tag}:dl:${id}`)).toBe(1);
      expect(await harness.redis.exists(own.registration(registrations[i]?.id ?? ''))).toBe(1);
    }
  });

  it('delivers what a single-partition store holds, after an upgrade to four partitions', async () => {
    // Written as a gateway without partitions did: unmarked ids, the {prefix} tag.
    const before = storeKeys(harness.keys.prefix);
    const registrations = createRegistrationStore({ redis: harness.redis, keys: before });
    const registration = await registrations.create(
      newRegistration(pipeline.url('/upgraded')),
      newCallbackToken(),
    );
    expect(registration.id).toMatch(/^reg_[0-9a-f]{32}$/);
    const stored = await createIntake({ redis: harness.redis, keys: before }).store(
      newCallback(registration.id, 'old-1', 'parse.running'),
    );
    if (stored.outcome !== 'stored') throw new Error(stored.outcome);
    expect(stored.callbackId).toMatch(/^cb_[0-9a-f]{32}$/);
    // The four-partition worker takes it from partition 0, which is that layout.
    await harness.until(
      async () => (await harness.deliveries.get(stored.callbackId))?.state === 'delivered',
    );
    expect(pipeline.received.filter((request) => request.path === '/upgraded')).toHaveLength(1);
  });
});
