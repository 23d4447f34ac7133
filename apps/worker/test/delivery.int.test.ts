import { createRedisAuditStore } from '@callback-gateway/audit';
import { auditPartitionsOf } from '@callback-gateway/store';
import { promtoolCheckMetrics, startRedis, type TestRedis } from '@callback-gateway/testing';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DELIVERY_SECRET,
  startDeliveryHarness,
  startPipeline,
  type DeliveryHarness,
  type Pipeline,
} from './harness.js';

describe('delivery to pipelines', () => {
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

  const deliveredTo = (path: string) =>
    pipeline.received.filter((request) => request.path === path);
  const state = async (id: string) => (await harness.deliveries.get(id))?.state;

  it('delivers a callback signed per Standard Webhooks, verified by the standardwebhooks library', async () => {
    const registration = await harness.register(pipeline.url('/ok'));
    const id = await harness.callback(registration, 'e-ok');
    await harness.until(async () => (await state(id)) === 'delivered');
    const [request] = deliveredTo('/ok');
    expect(request).toBeDefined();
    if (!request) return;
    const verified = new Webhook(DELIVERY_SECRET).verify(request.body, {
      'webhook-id': String(request.headers['webhook-id']),
      'webhook-timestamp': String(request.headers['webhook-timestamp']),
      'webhook-signature': String(request.headers['webhook-signature']),
    }) as Record<string, unknown>;
    expect(request.headers['webhook-id']).toBe(id);
    expect(verified).toMatchObject({
      type: 'parse.success',
      registration_id: registration.id,
      parse_job_id: 'job-1',
      format: 'event',
      metadata: { document: 'a.pdf' },
      payload: { event_id: 'e-ok', event_type: 'parse.success', data: { job_id: 'job-1' } },
    });
    expect((await harness.registrations.get(registration.id))?.state).toBe('delivered');
    // Recorded once the outcome is committed, written to the sinks after that turn.
    const events = () =>
      harness.audit
        .filter((event) => event.correlation.delivery_id === id)
        .map((event) => event.type);
    await harness.until(() => events().length >= 1);
    // One record for the attempt and its outcome.
    expect(events()).toEqual(['delivery.succeeded']);
    // In Redis, written by the state changes' scripts: the registration's stream has its whole
    // story, read back as the on-call page reads it; the capped main stream has none of it.
    const store = createRedisAuditStore({
      redis: harness.redis,
      prefix: `${harness.keys.tag}:audit`,
      partitions: auditPartitionsOf(harness.keys),
    });
    const stored = await store.query({ registrationId: registration.id });
    expect(stored.map((event) => event.type)).toEqual(['callback.received', 'delivery.succeeded']);
    expect(stored.map((event) => event.id)).toEqual([
      harness.audit.find(
        (event) => event.type === 'callback.received' && event.correlation.callback_id === id,
      )?.id,
      ...harness.audit
        .filter((event) => event.correlation.delivery_id === id)
        .map((event) => event.id),
    ]);
    expect(stored[1]?.data).toMatchObject({
      attempt: 1,
      status: 200,
      destination_origin: new URL(pipeline.url('/ok')).origin,
    });
    expect(await harness.redis.xlen(`${harness.keys.tag}:audit:events`)).toBe(0);
  });

  it('retries 5xx on the schedule with the same webhook-id, then delivers', async () => {
    pipeline.on('/flaky', (_request, count) => ({ status: count <= 2 ? 500 : 200 }));
    const registration = await harness.register(pipeline.url('/flaky'));
    const id = await harness.callback(registration, 'e-flaky');
    await harness.until(async () => (await state(id)) === 'delivered');
    const requests = deliveredTo('/flaky');
    expect(requests).toHaveLength(3);
    expect(new Set(requests.map((request) => request.headers['webhook-id']))).toEqual(
      new Set([id]),
    );
    expect((requests[1]?.at ?? 0) - (requests[0]?.at ?? 0)).toBeGreaterThanOrEqual(150);
    const attempts = await harness.deliveries.attempts(id);
    expect(attempts.map((attempt) => [attempt.attempt, attempt.status, attempt.outcome])).toEqual([
      [1, 500, 'retry'],
      [2, 500, 'retry'],
      [3, 200, 'delivered'],
    ]);
  });

  it('dead-letters after the last scheduled attempt, keeping every attempt and the last error', async () => {
    pipeline.on('/down', () => ({ status: 502 }));
    const registration = await harness.register(pipeline.url('/down'));
    const id = await harness.callback(registration, 'e-down');
    await harness.until(async () => (await state(id)) === 'dead_lettered');
    expect(deliveredTo('/down')).toHaveLength(4);
    const delivery = await harness.deliveries.get(id);
    expect(delivery?.lastError).toContain('HTTP 502');
    expect(delivery?.lastError).toContain('gave up after 4 attempts');
    expect((await harness.deliveries.attempts(id)).map((attempt) => attempt.status)).toEqual([
      502, 502, 502, 502,
    ]);
    expect(
      (await harness.deliveries.listByState('dead_lettered')).map((entry) => entry.id),
    ).toContain(id);
    // Recorded once the outcome is committed, written to the sinks after that turn.
    await harness.until(() =>
      harness.audit.some(
        (event) => event.type === 'delivery.dead_lettered' && event.correlation.delivery_id === id,
      ),
    );
    expect((await harness.registrations.get(registration.id))?.state).toBe('dead_lettered');
  });

  it('stops delivering to a registration whose pipeline answers 410', async () => {
    pipeline.on('/gone', () => ({ status: 410 }));
    const registration = await harness.register(pipeline.url('/gone'));
    const first = await harness.callback(registration, 'e-gone-1');
    await harness.until(async () => (await state(first)) === 'dead_lettered');
    expect(deliveredTo('/gone')).toHaveLength(1);
    expect((await harness.registrations.get(registration.id))?.deliveryStopped).toContain('410');
    const second = await harness.callback(registration, 'e-gone-2');
    await harness.until(async () => (await state(second)) === 'dead_lettered');
    expect(deliveredTo('/gone')).toHaveLength(1);
  });

  it('honours Retry-After on 429, clamped to at least a second', async () => {
    pipeline.on('/busy', (_request, count) =>
      count === 1 ? { status: 429, headers: { 'retry-after': '0' } } : { status: 200 },
    );
    const registration = await harness.register(pipeline.url('/busy'));
    const id = await harness.callback(registration, 'e-busy');
    await harness.until(async () => (await state(id)) === 'delivered');
    const [first, second] = deliveredTo('/busy');
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('gives other 4xx answers a few attempts, then dead-letters', async () => {
    pipeline.on('/bad', () => ({ status: 400 }));
    const registration = await harness.register(pipeline.url('/bad'));
    const id = await harness.callback(registration, 'e-bad');
    await harness.until(async () => (await state(id)) === 'dead_lettered');
    expect(deliveredTo('/bad')).toHaveLength(3);
    expect((await harness.deliveries.get(id))?.lastError).toContain('a 400 was answered 3 times');
  });

  it('replays a dead letter with the same webhook-id', async () => {
    let healthy = false;
    pipeline.on('/later', () => ({ status: healthy ? 200 : 500 }));
    const registration = await harness.register(pipeline.url('/later'));
    const id = await harness.callback(registration, 'e-later');
    await harness.until(async () => (await state(id)) === 'dead_lettered');
    healthy = true;
    expect(await harness.deliveries.requeue(id)).toBe(1);
    await harness.until(async () => (await state(id)) === 'delivered');
    const requests = deliveredTo('/later');
    expect(requests).toHaveLength(5);
    expect(requests.at(-1)?.headers['webhook-id']).toBe(id);
    expect(
      (await harness.deliveries.listByState('dead_lettered')).map((entry) => entry.id),
    ).not.toContain(id);
  });

  it('never follows a redirect (to a private address or anywhere)', async () => {
    pipeline.on('/redirect', () => ({
      status: 302,
      headers: { location: pipeline.url('/metadata') },
    }));
    const registration = await harness.register(pipeline.url('/redirect'));
    const id = await harness.callback(registration, 'e-redirect');
    await harness.until(async () => (await state(id)) === 'dead_lettered');
    expect(deliveredTo('/metadata')).toHaveLength(0);
    expect((await harness.deliveries.attempts(id)).map((attempt) => attempt.status)).toEqual([
      302, 302, 302, 302,
    ]);
  });

  it('refuses a destination the outbound policy forbids, without sending anything', async () => {
    const registration = await harness.register('http://127.0.0.2:9/never');
    const id = await harness.callback(registration, 'e-private');
    await harness.until(async () => (await state(id)) === 'dead_lettered');
    expect((await harness.deliveries.get(id))?.lastError).toContain('OUTBOUND_ALLOW');
  });
});

describe('a pipeline that hangs', () => {
  let redis: TestRedis;
  let pipeline: Pipeline;
  let other: Pipeline;
  let harness: DeliveryHarness;
  beforeAll(async () => {
    redis = await startRedis();
    pipeline = await startPipeline();
    other = await startPipeline();
    harness = await startDeliveryHarness(redis, {
      schedule: [0, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],
      totalMs: 300,
      breakerFailures: 3,
      breakerOpenMs: 60_000,
    });
  });
  afterAll(async () => {
    await harness.close();
    await pipeline.close();
    await other.close();
    await redis.close();
  });

  it('times out, opens its breaker, and other pipelines keep flowing', async () => {
    pipeline.on('/hang', () => 'hang');
    const stuck = await harness.register(pipeline.url('/hang'));
    const healthy = await harness.register(other.url('/fine'));
    const stuckIds = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((i) => harness.callback(stuck, `hang-${i}`)),
    );
    await harness.until(
      () => harness.service.guard.destinationState(pipeline.url('/hang')) === 'open',
    );
    const attemptsWhenOpened = pipeline.received.filter(
      (request) => request.path === '/hang',
    ).length;
    const fineIds = await Promise.all(
      [1, 2, 3, 4, 5].map((i) => harness.callback(healthy, `fine-${i}`)),
    );
    await harness.until(async () => {
      const states = await Promise.all(fineIds.map((id) => harness.deliveries.get(id)));
      return states.every((delivery) => delivery?.state === 'delivered');
    });
    // While open, the hanging pipeline gets no more requests; its deliveries wait, not fail.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(pipeline.received.filter((request) => request.path === '/hang').length).toBe(
      attemptsWhenOpened,
    );
    const waiting = await Promise.all(stuckIds.map((id) => harness.deliveries.get(id)));
    expect(
      waiting.every((delivery) => delivery?.state === 'retrying' || delivery?.state === 'queued'),
    ).toBe(true);
    const failed = await harness.deliveries.attempts(stuckIds[0] ?? '');
    expect(failed[0]?.error).toContain('no complete answer within 300 ms');
    expect(harness.audit.some((event) => event.type === 'breaker.state_changed')).toBe(true);
    const metrics = await harness.registry.metrics();
    expect(promtoolCheckMetrics(metrics)).toBe('');
    expect(metrics).toContain('cbgw_delivery_queue_jobs{state="delayed"');
    expect(metrics).toMatch(
      /cbgw_breaker_state\{origin="http:\/\/127\.0\.0\.1:\d+",destination="http:\/\/127\.0\.0\.1:\d+\/hang",level="destination",state="open",process="worker"\} 1/,
    );
  });
});
