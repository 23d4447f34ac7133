import { Writable } from 'node:stream';
import { createLogger } from '@callback-gateway/audit';
import { createDeliveryBatches } from '@callback-gateway/store';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStrandedSweep } from '../src/delivery/stranded.js';
import {
  startDeliveryHarness,
  startPipeline,
  type DeliveryHarness,
  type Pipeline,
} from './harness.js';

describe('deliveries whose job vanished (a failover lost it)', () => {
  let redis: TestRedis;
  let pipeline: Pipeline;
  let harness: DeliveryHarness;
  beforeAll(async () => {
    redis = await startRedis();
    pipeline = await startPipeline();
    harness = await startDeliveryHarness(redis);
    // The test plays the pump: it gives deliveries owners whose jobs it never adds.
    await Promise.all(harness.service.pumps.map((pump) => pump.close()));
  });
  afterAll(async () => {
    await harness.close();
    await pipeline.close();
    await redis.close();
  });

  /** A sweep of the harness's partition, by hand only (every delivery counts as old enough). */
  function sweepOf(queue: DeliveryHarness['service']['queues'][number]) {
    return startStrandedSweep({
      redis: harness.redis,
      partitions: [{ keys: harness.keys, queue }],
      olderThanMs: 0,
      intervalMs: 60_000,
      logger: createLogger({
        name: 'stranded-test',
        level: 'silent',
        destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
      }),
    });
  }

  it('gives deliveries whose job vanished or ran without them their jobs back, each delivered once', async () => {
    const [queue] = harness.service.queues;
    if (!queue) throw new Error('no queue');
    const waiting = await harness.register(pipeline.url('/lost-batch'));
    const retrying = await harness.register(pipeline.url('/lost-retry'));
    const early = await harness.register(pipeline.url('/ran-early'));
    const a = await harness.callback(waiting, 'lost-a', 'parse.running');
    const b = await harness.callback(retrying, 'lost-b', 'parse.running');
    const c = await harness.callback(early, 'early-c', 'parse.running');
    const batches = createDeliveryBatches({ redis: harness.redis, keys: harness.keys });
    // C: its job ran (and finished) before its record existed on this Redis.
    await queue.add('deliver', { deliveries: [] }, { jobId: 'b-ran-early' });
    await harness.until(async () => (await queue.getJobState('b-ran-early')) === 'completed');
    await batches.materialize([await harness.ingestEntry(c)], 'b-ran-early');
    // D: its job is lost and so is its callback (nothing to deliver: left to expire).
    const gone = await harness.register(pipeline.url('/gone'));
    const d = await harness.callback(gone, 'gone-d', 'parse.running');
    await batches.materialize([await harness.ingestEntry(d)], 'b-lost-d');
    await harness.redis.del(harness.keys.callback(d));
    // A: owned by a batch job that was never added (lost with the old primary).
    await batches.materialize([await harness.ingestEntry(a)], 'b-lost-1');
    // B: its first attempt failed; the retry it was handed to is gone.
    await batches.materialize([await harness.ingestEntry(b)], 'b-lost-2');
    expect((await batches.start('b-lost-2', [deliveryOf(b, retrying.id)]))[0]?.action).toBe(
      'deliver',
    );
    const retryJob = `r-${b}-0-2`;
    expect(
      await batches.commit({
        callbackId: b,
        registrationId: retrying.id,
        jobId: 'b-lost-2',
        replay: 0,
        state: 'retrying',
        attempts: 1,
        nextJobId: retryJob,
        nextAttemptAt: new Date().toISOString(),
        lastStatus: '503',
        lastError: 'HTTP 503',
        attemptJson: undefined,
      }),
    ).toBe('ok');
    expect((await harness.deliveries.get(a))?.state).toBe('queued');
    expect((await harness.deliveries.get(b))?.state).toBe('retrying');
    expect((await harness.deliveries.get(c))?.state).toBe('queued');

    const sweep = sweepOf(queue);
    try {
      expect(await sweep.sweep()).toBe(3);
      await harness.until(async () => {
        const states = await Promise.all([a, b, c].map((id) => harness.deliveries.get(id)));
        return states.every((delivery) => delivery?.state === 'delivered');
      });
      expect(pipeline.received.filter((request) => request.path === '/lost-batch')).toHaveLength(1);
      expect(pipeline.received.filter((request) => request.path === '/lost-retry')).toHaveLength(1);
      expect(pipeline.received.filter((request) => request.path === '/ran-early')).toHaveLength(1);
      expect(pipeline.received.filter((request) => request.path === '/gone')).toHaveLength(0);
      // Nothing left without its job.
      expect(await sweep.sweep()).toBe(0);
    } finally {
      sweep.close();
    }
  });

  it('walks a long index a batch per sweep, so one behind 250 others is found too', async () => {
    const [queue] = harness.service.queues;
    if (!queue) throw new Error('no queue');
    const late = await harness.register(pipeline.url('/behind'));
    const id = await harness.callback(late, 'behind-1', 'parse.running');
    const batches = createDeliveryBatches({ redis: harness.redis, keys: harness.keys });
    await batches.materialize([await harness.ingestEntry(id)], 'b-behind');
    // 250 older queued deliveries whose records are gone (nothing to recover), then this one.
    const index = harness.keys.deliveryState('queued');
    const old = Date.now() - 3_600_000;
    await harness.redis.zadd(
      index,
      ...Array.from({ length: 250 }, (_, i) => [
        old + i,
        `cb_${String(i).padStart(32, '0')}`,
      ]).flat(),
    );
    await harness.redis.zadd(index, old + 1_000, id);
    const sweep = sweepOf(queue);
    try {
      expect(await sweep.sweep()).toBe(0); // the first 200
      expect(await sweep.sweep()).toBe(1); // the rest: this one's job is back
      await harness.until(async () => (await harness.deliveries.get(id))?.state === 'delivered');
    } finally {
      sweep.close();
    }
  });

  it('walks past more than a batch of deliveries at one score (moved in one call)', async () => {
    const [queue] = harness.service.queues;
    if (!queue) throw new Error('no queue');
    const late = await harness.register(pipeline.url('/behind-ties'));
    const id = await harness.callback(late, 'behind-ties-1', 'parse.running');
    const batches = createDeliveryBatches({ redis: harness.redis, keys: harness.keys });
    await batches.materialize([await harness.ingestEntry(id)], 'b-behind-ties');
    // 250 queued deliveries at one score (records gone: nothing to recover), then this one.
    const index = harness.keys.deliveryState('queued');
    await harness.redis.del(index);
    const old = Date.now() - 3_600_000;
    await harness.redis.zadd(
      index,
      ...Array.from({ length: 250 }, (_, i) => [old, `cb_${String(i).padStart(32, 'f')}`]).flat(),
    );
    await harness.redis.zadd(index, old + 1_000, id);
    const sweep = sweepOf(queue);
    try {
      expect(await sweep.sweep()).toBe(0); // 200 of the 250 tied
      expect(await sweep.sweep()).toBe(1); // the other 50, and this one
      await harness.until(async () => (await harness.deliveries.get(id))?.state === 'delivered');
    } finally {
      sweep.close();
    }
  });
});

function deliveryOf(callbackId: string, registrationId: string) {
  return { callbackId, registrationId, replay: 0, attempt: 1 };
}
