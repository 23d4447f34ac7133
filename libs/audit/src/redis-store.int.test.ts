import { Writable } from 'node:stream';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuditLog } from './audit-log.js';
import { createLogger } from './logger.js';
import { createRedisAuditStore, logAuditSink } from './sinks.js';

function captureLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger({ name: 'audit-test', destination }) };
}

function client(server: TestRedis): Redis {
  // What the apps use for audit: fail fast while Redis is away, reconnect by itself.
  const redis = new Redis(server.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 50,
  });
  // Connection errors while the test stops Redis are expected; the apps log them via connectRedis.
  redis.on('error', () => undefined);
  return redis;
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('audit trail in Redis Streams', () => {
  let server: TestRedis;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server.close();
  });

  it('writes events and queries them back by registration, type and time range', async () => {
    const redis = client(server);
    await waitFor(() => redis.status === 'ready');
    const store = createRedisAuditStore({ redis, prefix: 'q1' });
    const { logger } = captureLogger();
    const audit = createAuditLog({
      actor: { kind: 'system', id: 'gateway' },
      sinks: [store.sink],
      logger,
    });
    const t0 = new Date(Date.now() - 60_000);
    for (let i = 0; i < 30; i++) {
      audit.record({
        type: i % 3 === 0 ? 'delivery.failed' : 'delivery.attempted',
        at: new Date(t0.getTime() + i * 1000),
        correlation: { registration_id: `reg_${i % 2}`, delivery_id: `d_${i}` },
        data:
          i % 3 === 0
            ? { attempt: 1, reason: 'HTTP 500', status: 500, latency_ms: 5, will_retry: true }
            : { attempt: 1, destination_origin: 'https://pipeline.example.com' },
      } as Parameters<typeof audit.record>[0]);
    }
    expect(await audit.flush()).toBe(0);

    const reg0 = await store.query({ registrationId: 'reg_0', limit: 1000 });
    expect(reg0).toHaveLength(15);
    expect(reg0.every((event) => event.correlation.registration_id === 'reg_0')).toBe(true);

    const failed = await store.query({ types: ['delivery.failed'] });
    expect(failed.map((event) => event.correlation.delivery_id)).toEqual(
      Array.from({ length: 10 }, (_, k) => `d_${k * 3}`),
    );

    const window = await store.query({
      from: new Date(t0.getTime() + 10_000),
      to: new Date(t0.getTime() + 14_000),
    });
    expect(window.map((event) => event.correlation.delivery_id)).toEqual([
      'd_10',
      'd_11',
      'd_12',
      'd_13',
      'd_14',
    ]);

    const newest = await store.query({ limit: 2, order: 'desc' });
    expect(newest.map((event) => event.correlation.delivery_id)).toEqual(['d_29', 'd_28']);
    await audit.close();
    redis.disconnect();
  });

  it('keeps the events of a registration in its partition, and merges the partitions for a query of all', async () => {
    const redis = client(server);
    await waitFor(() => redis.status === 'ready');
    const partitions = {
      prefixOf: (id: string) => (id.endsWith('.p1') ? '{pt:1}:audit' : '{pt}:audit'),
      prefixes: ['{pt}:audit', '{pt:1}:audit'],
    };
    const store = createRedisAuditStore({ redis, prefix: '{pt}:audit', partitions });
    const { logger } = captureLogger();
    const audit = createAuditLog({
      actor: { kind: 'system', id: 'worker' },
      sinks: [store.sink],
      logger,
    });
    const t0 = Date.now() - 60_000;
    for (let i = 0; i < 12; i++) {
      audit.record({
        type: 'delivery.attempted',
        at: new Date(t0 + i * 1000),
        correlation: {
          ...(i % 4 !== 3 && { registration_id: i % 2 === 0 ? 'reg_a' : 'reg_b.p1' }),
          delivery_id: `d_${i}`,
        },
        data: { attempt: 1, destination_origin: 'https://pipeline.example.com' },
      } as Parameters<typeof audit.record>[0]);
    }
    expect(await audit.flush()).toBe(0);
    // reg_b.p1's events are in partition 1's streams only; events naming no registration in
    // partition 0's.
    const inOne = (await redis.xrange('{pt:1}:audit:events', '-', '+')).length;
    const inZero = (await redis.xrange('{pt}:audit:events', '-', '+')).length;
    expect(inOne).toBe(3);
    expect(inZero).toBe(9);
    expect(await redis.exists('{pt:1}:audit:reg:reg_b.p1')).toBe(1);
    const b = await store.query({ registrationId: 'reg_b.p1' });
    expect(b.map((event) => event.correlation.delivery_id)).toEqual(['d_1', 'd_5', 'd_9']);
    const all = await store.query({ limit: 1000 });
    expect(all.map((event) => event.correlation.delivery_id)).toEqual(
      Array.from({ length: 12 }, (_, i) => `d_${i}`),
    );
    const newest = await store.query({ limit: 3, order: 'desc' });
    expect(newest.map((event) => event.correlation.delivery_id)).toEqual(['d_11', 'd_10', 'd_9']);
    await audit.close();
    redis.disconnect();
  });

  it('retries only the partitions a write failed in, so the others get each event once', async () => {
    const redis = client(server);
    await waitFor(() => redis.status === 'ready');
    const partitions = {
      prefixOf: (id: string) => (id.endsWith('.p1') ? '{pf:1}:audit' : '{pf}:audit'),
      prefixes: ['{pf}:audit', '{pf:1}:audit'],
    };
    const store = createRedisAuditStore({ redis, prefix: '{pf}:audit', partitions });
    const registry = new Registry();
    const { logger } = captureLogger();
    const audit = createAuditLog({
      actor: { kind: 'system', id: 'worker' },
      sinks: [store.sink],
      logger,
      registry,
      maxRetryDelayMs: 50,
    });
    // Partition 1's stream is not a stream: every write there fails (WRONGTYPE).
    await redis.set('{pf:1}:audit:events', 'not a stream');
    for (let i = 0; i < 6; i++) {
      audit.record({
        type: 'registration.updated',
        correlation: { registration_id: i % 2 === 0 ? 'reg_a' : 'reg_b.p1' },
        data: { fields: [`f${i}`] },
      });
    }
    await waitFor(async () => {
      const metric = await registry.getSingleMetric('cbgw_audit_sink_failures_total')?.get();
      return (metric?.values[0]?.value ?? 0) >= 3;
    });
    expect(await redis.xlen('{pf}:audit:events')).toBe(3);
    await redis.del('{pf:1}:audit:events');
    await waitFor(async () => (await audit.flush(100)) === 0);
    expect(await redis.xlen('{pf}:audit:events')).toBe(3);
    expect(await redis.xlen('{pf:1}:audit:events')).toBe(3);
    const b = await store.query({ registrationId: 'reg_b.p1' });
    expect(b.map((event) => event.data)).toEqual([
      { fields: ['f1'] },
      { fields: ['f3'] },
      { fields: ['f5'] },
    ]);
    await audit.close();
    redis.disconnect();
  });

  it('caps the stream at the configured length', async () => {
    const redis = client(server);
    await waitFor(() => redis.status === 'ready');
    const store = createRedisAuditStore({ redis, prefix: 'cap', maxLength: 50, trim: 'exact' });
    const approx = createRedisAuditStore({ redis, prefix: 'capx', maxLength: 50 });
    const { logger } = captureLogger();
    const audit = createAuditLog({
      actor: { kind: 'system', id: 'worker' },
      sinks: [store.sink, approx.sink],
      logger,
    });
    for (let i = 0; i < 1_000; i++) {
      audit.record({ type: 'registration.updated', data: { fields: [`f${i}`] } });
    }
    expect(await audit.flush()).toBe(0);
    expect(await redis.xlen('cap:events')).toBe(50);
    const approxLength = await redis.xlen('capx:events');
    expect(approxLength).toBeGreaterThanOrEqual(50);
    expect(approxLength).toBeLessThan(300);
    const newest = await store.query({ limit: 1, order: 'desc' });
    expect(newest[0]?.data).toEqual({ fields: ['f999'] });
    await audit.close();
    redis.disconnect();
  });

  it('keeps recording while Redis is down, logs once per burst, and writes the backlog when it returns', async () => {
    const redis = client(server);
    await waitFor(() => redis.status === 'ready');
    const registry = new Registry();
    const store = createRedisAuditStore({ redis, prefix: 'down' });
    const { lines, logger } = captureLogger();
    const audit = createAuditLog({
      actor: { kind: 'system', id: 'gateway' },
      sinks: [logAuditSink(logger), store.sink],
      logger,
      registry,
      maxRetryDelayMs: 200,
    });
    await server.stop();
    await waitFor(() => redis.status !== 'ready');

    const started = performance.now();
    for (let i = 0; i < 200; i++) {
      const event = audit.record({
        type: 'callback.received',
        correlation: { registration_id: 'reg_down', callback_id: `cb_${i}` },
        data: { format: 'event', bytes: 10, signature: 'absent' },
      });
      expect(event?.type).toBe('callback.received');
    }
    // Recording is synchronous and cheap even with the sink down.
    expect(performance.now() - started).toBeLessThan(1_000);

    await waitFor(async () => {
      const metric = await registry.getSingleMetric('cbgw_audit_sink_failures_total')?.get();
      return (metric?.values.find((v) => v.labels['sink'] === 'redis')?.value ?? 0) >= 3;
    });
    const failingLines = lines.filter((line) => line.includes('audit sink \\"redis\\" is failing'));
    expect(failingLines).toHaveLength(1);
    // The log sink kept writing every event as a JSON line meanwhile.
    expect(lines.filter((line) => line.includes('"msg":"audit callback.received"'))).toHaveLength(
      200,
    );

    await server.start();
    await waitFor(async () => (await audit.flush(200)) === 0, 15_000);
    const stored = await store.query({ registrationId: 'reg_down', limit: 1000 });
    expect(stored).toHaveLength(200);
    expect(lines.some((line) => line.includes('audit sink \\"redis\\" recovered'))).toBe(true);
    await audit.close();
    redis.disconnect();
  });

  it('publishes a prepared event to every sink but the store, and nothing before that', async () => {
    const redis = client(server);
    await waitFor(() => redis.status === 'ready');
    const registry = new Registry();
    const store = createRedisAuditStore({ redis, prefix: 'prep' });
    const { lines, logger } = captureLogger();
    const audit = createAuditLog({
      actor: { kind: 'system', id: 'worker' },
      sinks: [logAuditSink(logger), store.sink],
      logger,
      registry,
      knownSecrets: ['s3cret-value-0123456789'],
    });
    const prepared = audit.prepare({
      type: 'delivery.attempted',
      correlation: { registration_id: 'reg_prep', delivery_id: 'cb_1' },
      data: { attempt: 1, destination_origin: 'https://x.example/s3cret-value-0123456789' },
    });
    // Validated and redacted like a recorded one.
    expect(prepared?.data.destination_origin).not.toContain('s3cret-value');
    expect(
      audit.prepare({ type: 'delivery.attempted', data: { attempt: 0 } } as never),
    ).toBeUndefined();
    await audit.flush(1_000);
    expect(lines.filter((line) => line.includes('audit delivery.attempted'))).toHaveLength(0);
    const counted = async () =>
      (await registry.getSingleMetric('cbgw_audit_events_total')?.get())?.values.find(
        (value) => value.labels['type'] === 'delivery.attempted',
      )?.value ?? 0;
    expect(await counted()).toBe(0);

    audit.publish(prepared as NonNullable<typeof prepared>);
    await audit.flush(1_000);
    expect(lines.filter((line) => line.includes('audit delivery.attempted'))).toHaveLength(1);
    expect(await counted()).toBe(1);
    // The store's copy is the script's to write: the sink does not write a second one.
    expect(await store.query({ registrationId: 'reg_prep' })).toEqual([]);
    expect(await store.query({})).toEqual([]);
    await audit.close();
    redis.disconnect();
  });

  it('drops the oldest events past the buffer bound and counts them', async () => {
    const registry = new Registry();
    const { logger } = captureLogger();
    const audit = createAuditLog({
      actor: { kind: 'system', id: 'gateway' },
      sinks: [{ name: 'broken', write: () => Promise.reject(new Error('nope')) }],
      logger,
      registry,
      maxBuffered: 10,
    });
    for (let i = 0; i < 25; i++)
      audit.record({ type: 'registration.updated', data: { fields: ['x'] } });
    const dropped = await registry.getSingleMetric('cbgw_audit_events_dropped_total')?.get();
    expect(dropped?.values[0]?.value).toBe(15);
    expect(await audit.flush(50)).toBe(10);
    await audit.close(10);
  });

  it('never stores a secret in an audit record', async () => {
    const redis = client(server);
    await waitFor(() => redis.status === 'ready');
    const store = createRedisAuditStore({ redis, prefix: 'secret' });
    const { lines, logger } = captureLogger();
    const authtoken = '2abcDEFghiJKLmnoPQRstu_3vwxYZ0123456789abcdef';
    const token = 'Q2FsbGJhY2tUb2tlbk9mNDNDaGFyYWN0ZXJzMTIzNDU2Nzg5';
    const audit = createAuditLog({
      actor: { kind: 'system', id: 'gateway' },
      sinks: [logAuditSink(logger), store.sink],
      logger,
      knownSecrets: [authtoken],
    });
    audit.record({
      type: 'tunnel.down',
      correlation: { tunnel_session_id: 'ts_1' },
      data: {
        provider: 'ngrok',
        phase: 'start_failed',
        reason: `authentication failed for ${authtoken}`,
      },
    });
    audit.record({
      type: 'callback.rejected',
      data: {
        code: 'CALLBACK_BAD_SIGNATURE',
        status: 401,
        reason: `bad signature on https://h.example.com/v1/callbacks/llamaparse/${token}`,
      },
    });
    expect(await audit.flush()).toBe(0);
    const raw = JSON.stringify(await redis.xrange('secret:events', '-', '+')) + lines.join('');
    expect(raw).not.toContain(authtoken);
    expect(raw).not.toContain(token);
    expect(raw).toContain('[REDACTED]');
    await audit.close();
    redis.disconnect();
  });
});
