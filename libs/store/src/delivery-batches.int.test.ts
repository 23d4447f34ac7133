import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallbackHeader } from './callback-record.js';
import {
  createDeliveryBatches,
  type AttemptOutcome,
  type IngestEntry,
} from './delivery-batches.js';
import { createDeliveryStore } from './deliveries.js';
import { createIntake } from './intake.js';
import { storeKeys } from './keys.js';
import { createRegistrationStore, newCallbackToken } from './registrations.js';

const hour = 3_600_000;

describe('deliveries in batches (materialize, start, commit)', () => {
  let server: TestRedis;
  let redis: Redis;
  const keys = storeKeys(`b${Math.random().toString(36).slice(2, 8)}`);
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url, { enableOfflineQueue: false });
    await new Promise((resolve) => redis.once('ready', resolve));
  });
  afterAll(async () => {
    redis.disconnect();
    await server.close();
  });

  /** A registration and `count` stored callbacks, as their ingest entries. */
  const setUp = async (count: number) => {
    const registrations = createRegistrationStore({ redis, keys });
    const intake = createIntake({ redis, keys });
    const now = Date.now();
    const registration = await registrations.create(
      {
        source: 'llamaparse',
        deliverTo: 'https://pipeline.example.com/hooks',
        parseJobId: 'job-1',
        metadata: { doc: 'a.pdf' },
        signingSecret: 'signing-secret-0123456789',
        deliverySecret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        requireSignature: false,
        callbackBaseUrl: 'https://hooks.example.com',
        callbackUrlSource: 'cloud_config',
        apiClient: 'token-1',
        createdAt: new Date(now).toISOString(),
        expiresAt: new Date(now + 24 * hour).toISOString(),
        expectCallbackBy: new Date(now + hour).toISOString(),
      },
      newCallbackToken(),
    );
    const entries: IngestEntry[] = [];
    for (let i = 0; i < count; i++) {
      const stored = await intake.store({
        registrationId: registration.id,
        format: 'event',
        payloadJson: `{"event_id":"e${i}","event_type":"parse.running"}`,
        contentType: 'application/json',
        receivedAt: new Date().toISOString(),
        dedupKey: `event:e${i}`,
        eventType: 'parse.running',
        eventId: `e${i}`,
        stringEncoded: false,
        signature: 'absent',
        final: false,
      });
      if (stored.outcome !== 'stored') throw new Error('not stored');
      const [[, fields] = ['', []]] = await redis.xrange(
        keys.ingest,
        stored.entryId,
        stored.entryId,
      );
      entries.push({
        entryId: stored.entryId,
        callbackId: stored.callbackId,
        registrationId: registration.id,
        replay: 0,
        header: JSON.parse(fields[5] ?? '') as CallbackHeader,
      });
    }
    return { registration, entries };
  };

  const outcome = (
    entry: IngestEntry,
    jobId: string,
    overrides: Partial<AttemptOutcome> = {},
  ): AttemptOutcome => ({
    callbackId: entry.callbackId,
    registrationId: entry.registrationId,
    jobId,
    replay: entry.replay,
    state: 'delivered',
    attempts: 1,
    attemptJson: JSON.stringify({
      attempt: 1,
      at: new Date().toISOString(),
      latencyMs: 3,
      outcome: 'delivered',
      status: 200,
    }),
    nextJobId: undefined,
    lastStatus: '200',
    deliveredAt: new Date().toISOString(),
    ...overrides,
  });

  it('gives each new delivery its hash and owner, and keeps the first owner when an entry is read again', async () => {
    const batches = createDeliveryBatches({ redis, keys });
    const deliveries = createDeliveryStore({ redis, keys });
    const { registration, entries } = await setUp(3);
    expect(await batches.materialize(entries, 'b-first')).toEqual([
      { outcome: 'owned', jobId: 'b-first', isNew: true },
      { outcome: 'owned', jobId: 'b-first', isNew: true },
      { outcome: 'owned', jobId: 'b-first', isNew: true },
    ]);
    // The pump died before acknowledging: the same entries, read again in another batch.
    expect(await batches.materialize(entries.slice(1), 'b-second')).toEqual([
      { outcome: 'owned', jobId: 'b-first', isNew: false },
      { outcome: 'owned', jobId: 'b-first', isNew: false },
    ]);
    const listed = await deliveries.listForRegistration(registration.id);
    expect(listed.map((delivery) => delivery.id)).toEqual(entries.map((entry) => entry.callbackId));
    expect(
      listed.every(
        (delivery) => delivery.state === 'queued' && delivery.eventType === 'parse.running',
      ),
    ).toBe(true);
    expect(await deliveries.countByState('queued')).toBeGreaterThanOrEqual(3);
  });

  it("writes each state change's audit record to the registration's stream in the same call", async () => {
    const batches = createDeliveryBatches({
      redis,
      keys,
      registrationAudit: { maxLength: 1_000, ttlSeconds: 600 },
    });
    const { registration, entries } = await setUp(2);
    const [first, second] = entries as [IngestEntry, IngestEntry];
    const stream = keys.registrationAudit(registration.id);
    const records = async () =>
      (await redis.xrange(stream, '-', '+')).map(([, fields]) => fields[1]);
    const received = (entry: IngestEntry) =>
      `{"type":"callback.received","id":"${entry.callbackId}"}`;
    await batches.materialize(
      entries.map((entry) => ({ ...entry, auditRecord: received(entry) })),
      'b-audit',
    );
    expect(await records()).toEqual([received(first), received(second)]);
    const ttl = await redis.ttl(stream);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
    // Read again (the pump died before acknowledging): the delivery exists, nothing written.
    await batches.materialize([{ ...first, auditRecord: received(first) }], 'b-again');
    expect(await records()).toHaveLength(2);

    // Applied, and stale (another job owns it): the attempt was made either way, and recorded.
    expect(await batches.commit(outcome(first, 'b-audit', { attemptRecord: '{"a":1}' }))).toBe(
      'ok',
    );
    expect(
      await batches.commit(outcome(second, 'not-the-owner', { attemptRecord: '{"a":2}' })),
    ).toBe('stale');
    // A commit without an attempt (a breaker's hold) writes nothing.
    expect(
      await batches.commit(
        outcome(first, 'b-audit', { state: 'retrying', attemptJson: undefined, nextJobId: 'w-1' }),
      ),
    ).toBe('stale');
    expect((await records()).slice(2)).toEqual(['{"a":1}', '{"a":2}']);

    // The stream expired meanwhile (a delivery outlived it): written again, with its TTL.
    await redis.del(stream);
    expect(
      await batches.commit(
        outcome(second, 'b-audit', {
          state: 'retrying',
          nextJobId: 'r-1',
          attemptRecord: '{"a":3}',
        }),
      ),
    ).toBe('ok');
    expect(await records()).toEqual(['{"a":3}']);
    expect(await redis.ttl(stream)).toBeGreaterThan(590);
  });

  it('caps a registration list at 100 and an attempt log at 50, both expiring', async () => {
    const batches = createDeliveryBatches({ redis, keys, ttlSeconds: 7_200 });
    const { registration, entries } = await setUp(103);
    await batches.materialize(entries, 'b-many');
    const list = keys.registrationCallbacks(registration.id);
    expect(await redis.llen(list)).toBe(100);
    expect(await redis.lrange(list, 0, 0)).toEqual([entries[3]?.callbackId]);
    expect(await redis.ttl(list)).toBeGreaterThan(7_100);
    // 53 attempts of one delivery, each handing it to the next retry.
    const [entry] = entries;
    if (!entry) throw new Error('no entry');
    await batches.start('b-many', [{ ...entry, attempt: 1 }]);
    let job = 'b-many';
    for (let attempt = 1; attempt <= 53; attempt++) {
      const next = `r-${entry.callbackId}-0-${attempt + 1}`;
      expect(
        await batches.commit(
          outcome(entry, job, {
            state: 'retrying',
            attempts: attempt,
            nextJobId: next,
            attemptJson: JSON.stringify({ attempt, outcome: 'failed', status: 503 }),
            deliveredAt: undefined,
          }),
        ),
      ).toBe('ok');
      job = next;
    }
    const log = keys.deliveryAttempts(entry.callbackId);
    expect(await redis.llen(log)).toBe(50);
    expect(JSON.parse((await redis.lindex(log, 0)) ?? '{}')).toMatchObject({ attempt: 4 });
    expect(await redis.ttl(log)).toBeGreaterThan(7_100);
  });

  it('lets only the owning job attempt a delivery, with its record and destination', async () => {
    const batches = createDeliveryBatches({ redis, keys });
    const deliveries = createDeliveryStore({ redis, keys });
    const { registration, entries } = await setUp(2);
    await batches.materialize(entries, 'b-own');
    const deliveriesOf = entries.map((entry) => ({ ...entry, attempt: 1 }));
    expect((await batches.start('b-other', deliveriesOf)).map((step) => step.action)).toEqual([
      'skip',
      'skip',
    ]);
    const started = await batches.start('b-own', deliveriesOf);
    expect(started[0]).toMatchObject({
      action: 'deliver',
      record: { id: entries[0]?.callbackId, eventId: 'e0' },
      target: {
        deliverTo: 'https://pipeline.example.com/hooks',
        parseJobId: 'job-1',
        metadata: { doc: 'a.pdf' },
        deliveryStopped: undefined,
      },
    });
    // The payload as the bytes Redis holds, never decoded on the way.
    const [first] = started;
    expect(first?.action === 'deliver' && first.record.payload.toString()).toBe(
      '{"event_id":"e0","event_type":"parse.running"}',
    );
    expect((await deliveries.get(entries[0]?.callbackId ?? ''))?.state).toBe('delivering');
    expect((await createRegistrationStore({ redis, keys }).get(registration.id))?.state).toBe(
      'delivering',
    );
  });

  it('commits outcomes in one group, moves the indexes, and skips a delivery that is done', async () => {
    const batches = createDeliveryBatches({ redis, keys });
    const deliveries = createDeliveryStore({ redis, keys });
    const { entries } = await setUp(2);
    const [a, b] = entries as [IngestEntry, IngestEntry];
    await batches.materialize(entries, 'b-c');
    await batches.start(
      'b-c',
      entries.map((entry) => ({ ...entry, attempt: 1 })),
    );
    const results = await Promise.all([
      batches.commit(outcome(a, 'b-c')),
      batches.commit(
        outcome(b, 'b-c', {
          state: 'retrying',
          nextJobId: `r-${b.callbackId}-0-2`,
          nextAttemptAt: new Date(Date.now() + 5_000).toISOString(),
          lastStatus: '503',
          lastError: 'HTTP 503',
          deliveredAt: undefined,
        }),
      ),
    ]);
    expect(results).toEqual(['ok', 'ok']);
    expect(await deliveries.get(a.callbackId)).toMatchObject({
      state: 'delivered',
      attempts: 1,
      lastStatus: 200,
    });
    expect(await deliveries.get(b.callbackId)).toMatchObject({
      state: 'retrying',
      lastError: 'HTTP 503',
    });
    expect(await redis.zscore(keys.deliveryState('delivered'), a.callbackId)).not.toBeNull();
    expect(await redis.zscore(keys.deliveryState('delivering'), a.callbackId)).toBeNull();
    expect((await deliveries.attempts(a.callbackId)).map((attempt) => attempt.status)).toEqual([
      200,
    ]);
    // Run again (after a crash): the delivered one is done; the other was handed to its retry.
    expect(
      await batches.start(
        'b-c',
        entries.map((entry) => ({ ...entry, attempt: 1 })),
      ),
    ).toEqual([
      { action: 'skip', reason: 'done' },
      { action: 'ensure', jobId: `r-${b.callbackId}-0-2`, nextAttemptAt: expect.any(String) },
    ]);
    // The retry job owns it now: it attempts; the batch job no longer can commit for it.
    const retry = await batches.start(`r-${b.callbackId}-0-2`, [{ ...b, attempt: 2 }]);
    expect(retry[0]?.action).toBe('deliver');
    expect(await batches.commit(outcome(b, 'b-c'))).toBe('stale');
  });

  it('starts a replay that the earlier round can no longer touch', async () => {
    const batches = createDeliveryBatches({ redis, keys });
    const deliveries = createDeliveryStore({ redis, keys });
    const { entries } = await setUp(1);
    const [entry] = entries as [IngestEntry];
    await batches.materialize(entries, 'b-r0');
    await batches.start('b-r0', [{ ...entry, attempt: 1 }]);
    await batches.commit(
      outcome(entry, 'b-r0', {
        state: 'dead_lettered',
        lastError: 'gave up',
        deliveredAt: undefined,
      }),
    );
    expect(await deliveries.requeue(entry.callbackId)).toBe(1);
    expect((await deliveries.get(entry.callbackId))?.state).toBe('queued');
    const replay: IngestEntry = { ...entry, replay: 1, header: undefined };
    expect(await batches.materialize([replay], 'b-r1')).toEqual([
      { outcome: 'owned', jobId: 'b-r1', isNew: true },
    ]);
    expect((await batches.start('b-r0', [{ ...entry, attempt: 1 }]))[0]?.action).toBe('skip');
    expect((await batches.start('b-r1', [{ ...replay, attempt: 1 }]))[0]?.action).toBe('deliver');
    expect(await batches.commit(outcome(replay, 'b-r1'))).toBe('ok');
    expect(await deliveries.get(entry.callbackId)).toMatchObject({
      state: 'delivered',
      replays: 1,
    });
    expect(await deliveries.requeue('cb_00000000000000000000000000000000')).toBeUndefined();
  });
});
