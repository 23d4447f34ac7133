import { Writable } from 'node:stream';
import { createAuditLog, createLogger, type AuditEvent } from '@callback-gateway/audit';
import { createOutboundPolicy } from '@callback-gateway/outbound';
import { createMetricsRegistry } from '@callback-gateway/runtime';
import {
  createHistoryRecorder,
  createDeliveryBatches,
  createDeliveryStore,
} from '@callback-gateway/store';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { Queue, type Job } from 'bullmq';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DestinationGuard } from '../src/delivery/destination-guard.js';
import type { DeliveryJobData } from '../src/delivery/jobs.js';
import { createLimit } from '../src/delivery/limit.js';
import { createDeliveryProcessor } from '../src/delivery/processor.js';
import { createWorkerMetrics } from '../src/metrics.js';
import {
  startDeliveryHarness,
  startPipeline,
  type DeliveryHarness,
  type Pipeline,
} from './harness.js';

describe('deliveries in batches', () => {
  let redis: TestRedis;
  let pipeline: Pipeline;
  let harness: DeliveryHarness;
  beforeAll(async () => {
    redis = await startRedis();
    pipeline = await startPipeline();
    harness = await startDeliveryHarness(redis);
  });
  afterAll(async () => {
    await harness.close();
    await pipeline.close();
    await redis.close();
  });

  it('records callback.received from the ingest entry, with the time the gateway received it', async () => {
    const registration = await harness.register(pipeline.url('/received'));
    const id = await harness.callback(registration, 'e-received', 'parse.running');
    await harness.until(() =>
      harness.audit.some(
        (event) => event.type === 'callback.received' && event.correlation.callback_id === id,
      ),
    );
    const received = harness.audit.find(
      (event): event is AuditEvent<'callback.received'> =>
        event.type === 'callback.received' && event.correlation.callback_id === id,
    );
    const stored = await harness.deliveries.get(id);
    expect(received?.at).toBe(stored?.receivedAt);
    expect(received?.actor).toEqual({ kind: 'parser', id: 'llamaparse' });
    expect(received?.data).toMatchObject({
      format: 'event',
      event_type: 'parse.running',
      event_id: 'e-received',
      signature: 'absent',
    });
    expect(received?.correlation).toMatchObject({
      registration_id: registration.id,
      parse_job_id: 'job-1',
    });
  });

  it('delivers a burst in jobs of many deliveries each', async () => {
    const registration = await harness.register(pipeline.url('/burst'));
    const completedBefore = await firstQueue(harness).getCompletedCount();
    const ids = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        harness.callback(registration, `burst-${i}`, 'parse.running'),
      ),
    );
    await harness.until(async () => {
      const states = await Promise.all(ids.map((id) => harness.deliveries.get(id)));
      return states.every((delivery) => delivery?.state === 'delivered');
    });
    // A job completes just after its last outcome is committed: wait until none is left.
    const queue = firstQueue(harness);
    await harness.until(
      async () =>
        (await queue.getActiveCount()) +
          (await queue.getWaitingCount()) +
          (await queue.getDelayedCount()) ===
        0,
    );
    const jobs = (await queue.getCompletedCount()) - completedBefore;
    expect(pipeline.received.filter((request) => request.path === '/burst')).toHaveLength(60);
    // The harness's worker carries at most 10 (its concurrency) per job.
    expect(jobs).toBeGreaterThanOrEqual(6);
    expect(jobs).toBeLessThan(60);
  });
});

describe('a delivery job run again after a crash', () => {
  let redis: TestRedis;
  let pipeline: Pipeline;
  let harness: DeliveryHarness;
  let queue: Queue<DeliveryJobData>;
  let dispatcher: Agent;
  beforeAll(async () => {
    redis = await startRedis();
    pipeline = await startPipeline();
    // A feeder only: its own worker stays out of the way (its pump is stopped at once).
    harness = await startDeliveryHarness(redis);
    await Promise.all(harness.service.pumps.map((pump) => pump.close()));
    queue = new Queue<DeliveryJobData>('crash-test', {
      connection: harness.redis,
      prefix: `{${harness.keys.prefix}}`,
    });
    dispatcher = new Agent();
  });
  afterAll(async () => {
    await queue.close();
    await dispatcher.close();
    await harness.close();
    await pipeline.close();
    await redis.close();
  });

  it('attempts nothing twice and adds the retry it handed a delivery to if that was lost', async () => {
    pipeline.on('/flaky-crash', (_request, count) => ({ status: count === 1 ? 503 : 200 }));
    const ok = await harness.register(pipeline.url('/ok-crash'));
    const flaky = await harness.register(pipeline.url('/flaky-crash'));
    const delivered = await harness.callback(ok, 'crash-ok', 'parse.running');
    const retried = await harness.callback(flaky, 'crash-flaky', 'parse.running');
    // What the pump does: the deliveries get their hash and one job owns both.
    const entries = await Promise.all([delivered, retried].map((id) => harness.ingestEntry(id)));
    const batches = createDeliveryBatches({ redis: harness.redis, keys: harness.keys });
    await batches.materialize(entries, 'b-crash');
    const logger = createLogger({
      name: 'crash-test',
      level: 'silent',
      destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
    });
    const events: AuditEvent[] = [];
    const process = createDeliveryProcessor({
      batches,
      queueOf: () => queue,
      policy: createOutboundPolicy({ allow: ['127.0.0.1'] }),
      dispatcher,
      guard: new DestinationGuard(),
      limit: createLimit(4),
      retry: { scheduleSeconds: [0, 30, 60], jitter: 0 },
      timeouts: { connectMs: 1_000, headersMs: 2_000, totalMs: 2_000 },
      audit: createAuditLog({
        actor: { kind: 'system', id: 'worker' },
        sinks: [{ name: 'memory', write: (batch) => void events.push(...batch) }],
        logger,
      }),
      logger,
      metrics: createWorkerMetrics(createMetricsRegistry({ process: 'worker' }), () => undefined),
      history: createHistoryRecorder({ redis: harness.redis, keys: harness.keys }),
    });
    const job = {
      id: 'b-crash',
      data: {
        deliveries: entries.map((entry) => ({
          callbackId: entry.callbackId,
          registrationId: entry.registrationId,
          replay: 0,
          attempt: 1,
        })),
      },
    } as unknown as Job<DeliveryJobData>;

    expect(await process(job)).toEqual({ attempted: 2, skipped: 0 });
    const retryId = `r-${retried}-0-2`;
    expect(await queue.getJobState(retryId)).toBe('delayed');
    // The worker died after committing the retry and before its job was added.
    await (await queue.getJob(retryId))?.remove();
    expect(await queue.getJob(retryId)).toBeUndefined();

    // BullMQ runs the stalled job again: nothing is sent twice, the lost retry is added again.
    expect(await process(job)).toEqual({ attempted: 0, skipped: 1 });
    expect(pipeline.received.filter((request) => request.path === '/ok-crash')).toHaveLength(1);
    expect(pipeline.received.filter((request) => request.path === '/flaky-crash')).toHaveLength(1);
    const again = await queue.getJob(retryId);
    expect(await again?.getState()).toBe('delayed');
    expect(again?.data.deliveries).toEqual([
      { callbackId: retried, registrationId: flaky.id, replay: 0, attempt: 2 },
    ]);
    // Due when the first run said, not 30 s after the second.
    const nextAttemptAt = (
      await createDeliveryStore({ redis: harness.redis, keys: harness.keys }).get(retried)
    )?.nextAttemptAt;
    expect(
      Math.abs((again?.timestamp ?? 0) + (again?.delay ?? 0) - Date.parse(nextAttemptAt ?? '')),
    ).toBeLessThan(1_000);
    expect((await harness.deliveries.get(delivered))?.state).toBe('delivered');
    expect((await harness.deliveries.get(retried))?.state).toBe('retrying');
  });

  it('counts callbacks still in the ingest stream in the oldest-waiting age (a pump that stopped)', async () => {
    const registration = await harness.register(pipeline.url('/never-pumped'));
    await harness.callback(registration, 'never-pumped', 'parse.running');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const metrics = await harness.registry.metrics();
    const age = Number(/cbgw_delivery_oldest_waiting_seconds\{[^}]*\} ([\d.]+)/.exec(metrics)?.[1]);
    expect(age).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/cbgw_ingest_backlog\{[^}]*\} [1-9]/);
  });
});

function firstQueue(harness: DeliveryHarness): Queue<DeliveryJobData> {
  const [queue] = harness.service.queues;
  if (!queue) throw new Error('the harness has no delivery queue');
  return queue;
}
