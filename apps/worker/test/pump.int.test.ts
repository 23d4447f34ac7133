import { Writable } from 'node:stream';
import { createAuditLog, createLogger } from '@callback-gateway/audit';
import { createDeliveryBatches } from '@callback-gateway/store';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryJobData } from '../src/delivery/jobs.js';
import { PUMP_GROUP, startIngestPump } from '../src/delivery/pump.js';
import { startDeliveryHarness, type DeliveryHarness } from './harness.js';

describe('the ingest pump after a failover', () => {
  let redis: TestRedis;
  let harness: DeliveryHarness;
  let pumpRedis: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    // A feeder: its own pump and workers are stopped, this test runs a pump of its own.
    harness = await startDeliveryHarness(redis);
    await Promise.all(harness.service.pumps.map((pump) => pump.close()));
    await Promise.all(harness.service.workers.map((worker) => worker.close()));
    pumpRedis = new Redis(redis.url, { maxRetriesPerRequest: null });
  });
  afterAll(async () => {
    pumpRedis.disconnect();
    await harness.close();
    await redis.close();
  });

  it('acknowledges no entry whose job did not reach the Redis it acknowledges on', async () => {
    const [queue] = harness.service.queues;
    if (!queue) throw new Error('no queue');
    const registration = await harness.register('http://127.0.0.1:9/lost');
    const kept = await harness.callback(registration, 'kept-add', 'parse.running');
    const id = await harness.callback(registration, 'lost-add', 'parse.running');
    const lines: string[] = [];
    const logger = createLogger({
      name: 'pump-test',
      level: 'warn',
      destination: new Writable({
        write: (chunk, _encoding, done) => {
          lines.push(String(chunk));
          done();
        },
      }),
    });
    const audit = createAuditLog({ actor: { kind: 'system', id: 'worker' }, sinks: [], logger });
    const batches = createDeliveryBatches({ redis: harness.redis, keys: harness.keys });
    // One job a delivery; the second one is added "on the old primary": the call succeeds,
    // nothing reaches this Redis.
    const lostAdds = Object.create(queue) as Queue<DeliveryJobData>;
    let lost: string | undefined;
    lostAdds.addBulk = (jobs) => {
      lost ??= jobs[1]?.opts?.jobId;
      return queue.addBulk(jobs.filter((job) => job.opts?.jobId !== lost));
    };
    const lossy = startIngestPump({
      redis: pumpRedis,
      keys: harness.keys,
      batches,
      queue: lostAdds,
      audit,
      logger,
      consumer: 'pump-test',
      lingerMs: 0,
      jobSize: 1,
    });
    await harness.until(() =>
      lines.some((line) => line.includes('not on the current Redis primary')),
    );
    await lossy.close();
    expect(lossy.moved).toBe(0);
    // The first delivery's record and job are here: its entry is acknowledged and deleted. The
    // second's job is missing: its entry is still pending, not deleted.
    const pending = (await harness.redis.xpending(harness.keys.ingest, PUMP_GROUP)) as [number];
    expect(pending[0]).toBe(1);
    const left = await harness.redis.xrange(harness.keys.ingest, '-', '+');
    expect(left.map(([, fields]) => fields[fields.indexOf('cb') + 1])).toEqual([id]);
    expect(await queue.getJob(lost ?? '')).toBeUndefined();
    const keptJob = (await harness.redis.hget(harness.keys.delivery(kept), 'job')) ?? '';
    expect((await queue.getJob(keptJob))?.data.deliveries.map((d) => d.callbackId)).toEqual([kept]);
    const jobId = (await harness.redis.hget(harness.keys.delivery(id), 'job')) ?? '';
    expect(jobId).toBe(lost);

    // The pump (with adds that land) takes it over again: job added, entry acknowledged.
    const pump = startIngestPump({
      redis: pumpRedis,
      keys: harness.keys,
      batches,
      queue,
      audit,
      logger,
      consumer: 'pump-test',
      lingerMs: 0,
    });
    await harness.until(async () => (await harness.redis.xlen(harness.keys.ingest)) === 0);
    await pump.close();
    expect((await queue.getJob(jobId))?.data.deliveries.map((d) => d.callbackId)).toEqual([id]);
    await audit.close(100);
  });
});
