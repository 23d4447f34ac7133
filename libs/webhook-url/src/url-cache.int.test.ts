import { randomUUID } from 'node:crypto';
import { memoryAuditLog } from '@callback-gateway/audit/testing';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { captureLogger } from '../test/helpers.js';
import { WebhookUrlResolveError } from './errors.js';
import { createWebhookUrlResolver } from './resolver.js';
import { readCachedResolution } from './url-cache.js';
import type { WebhookUrlResolverOptions } from './resolver-options.js';
import { staticLookup } from './testing.js';

let redis: TestRedis;
let client: Redis;

beforeAll(async () => {
  redis = await startRedis({ persistent: true });
  client = new Redis(redis.port, redis.host, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 50,
  });
  client.on('error', () => undefined);
  await new Promise((resolve) => client.once('ready', resolve));
});
afterAll(async () => {
  client.disconnect();
  await redis.close();
});

function resolverWith(options: Partial<WebhookUrlResolverOptions>) {
  const audit = memoryAuditLog();
  const { logger } = captureLogger();
  return createWebhookUrlResolver({ audit, logger, redis: client, ...options });
}

async function failureOf(promise: Promise<unknown>): Promise<WebhookUrlResolveError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof WebhookUrlResolveError))
    throw new Error(`expected a typed failure, got ${String(error)}`);
  return error;
}

const publicLookup = staticLookup({ 'gw.example.com': ['93.184.215.14'] });

describe('the cache source', () => {
  it('finds the last verified URL after a Redis restart', async () => {
    const cacheKey = `test:${randomUUID()}`;
    const writer = resolverWith({
      publicBaseUrl: 'https://gw.example.com',
      lookup: publicLookup,
      cacheKey,
      cacheTtlSeconds: 600,
    });
    await writer.resolve();
    const ttl = await client.ttl(cacheKey);
    expect(ttl).toBeGreaterThan(590);

    await redis.restart();
    await vi.waitFor(() => expect(client.status).toBe('ready'), { timeout: 5_000 });

    const reader = resolverWith({ sources: ['cache'], lookup: publicLookup, cacheKey });
    await expect(reader.resolve()).resolves.toMatchObject({
      baseUrl: 'https://gw.example.com',
      source: 'cache',
      verifiedBy: 'dns',
    });
  });

  it('never serves an entry that now resolves to 10.0.0.8, and deletes it', async () => {
    const cacheKey = `test:${randomUUID()}`;
    await resolverWith({
      publicBaseUrl: 'https://gw.example.com',
      lookup: publicLookup,
      cacheKey,
    }).resolve();
    const reader = resolverWith({
      sources: ['cache'],
      cacheKey,
      lookup: staticLookup({ 'gw.example.com': ['10.0.0.8'] }),
    });
    const error = await failureOf(reader.resolve());
    expect(error.reasons[0]).toMatchObject({
      source: 'cache',
      code: 'WEBHOOK_URL_PRIVATE_ADDRESS',
    });
    expect(error.reasons[0]?.reason).toMatch(/was deleted/);
    expect(await client.get(cacheKey)).toBeNull();
  });

  it('never serves a tunnel URL whose probe fails, and keeps it while the failure may be transient', async () => {
    const cacheKey = `test:${randomUUID()}`;
    const entry = {
      baseUrl: 'https://old-tunnel.ngrok-free.app',
      source: 'ngrok',
      verifiedBy: 'probe',
      insecure: false,
      resolvedAt: new Date().toISOString(),
    };
    await client.set(cacheKey, JSON.stringify(entry));
    const reader = resolverWith({
      sources: ['cache'],
      cacheKey,
      probeKey: 'probe-key-0123456789abcdef',
      lookup: staticLookup({ 'old-tunnel.ngrok-free.app': ['93.184.215.14'] }),
      // The old tunnel no longer answers: every connection the probe opens is refused.
      dispatcher: new Agent({
        connect: (_options, callback) => {
          callback(
            Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
            null,
          );
        },
      }),
      retry: { attempts: 0 },
      deadlineMs: 2_000,
    });
    const error = await failureOf(reader.resolve());
    expect(error.reasons[0]).toMatchObject({
      source: 'cache',
      code: 'WEBHOOK_URL_PROBE_FAILED',
      retryable: true,
    });
    expect(await client.get(cacheKey)).not.toBeNull();
    expect(reader.current()).toBeUndefined();
  });

  it('without a probe key, refuses and deletes a cached tunnel URL rather than trusting DNS alone', async () => {
    const cacheKey = `test:${randomUUID()}`;
    const entry = {
      baseUrl: 'https://old-tunnel.ngrok-free.app',
      source: 'ngrok',
      verifiedBy: 'probe',
      insecure: false,
      resolvedAt: new Date().toISOString(),
    };
    await client.set(cacheKey, JSON.stringify(entry));
    const reader = resolverWith({
      sources: ['cache'],
      cacheKey,
      lookup: staticLookup({ 'old-tunnel.ngrok-free.app': ['93.184.215.14'] }),
    });
    const error = await failureOf(reader.resolve());
    expect(error.reasons[0]).toMatchObject({ code: 'WEBHOOK_URL_PROBE_KEY_MISSING' });
    expect(await client.get(cacheKey)).toBeNull();
  });

  it('deletes a malformed entry and reports a miss', async () => {
    const cacheKey = `test:${randomUUID()}`;
    await client.set(cacheKey, '{"baseUrl":"http://localhost:8000"}');
    const error = await failureOf(resolverWith({ sources: ['cache'], cacheKey }).resolve());
    expect(error).toMatchObject({ code: 'WEBHOOK_URL_NO_SOURCE' });
    expect(error.reasons[0]?.code).toBe('WEBHOOK_URL_CACHE_MISS');
    expect(await client.get(cacheKey)).toBeNull();
  });

  it('fails fast, and retryably, while Redis is down; works again once it is back', async () => {
    const cacheKey = `test:${randomUUID()}`;
    await resolverWith({
      publicBaseUrl: 'https://gw.example.com',
      lookup: publicLookup,
      cacheKey,
    }).resolve();
    await redis.stop();
    try {
      const reader = resolverWith({
        sources: ['cache'],
        cacheKey,
        lookup: publicLookup,
        retry: { attempts: 0 },
      });
      const started = Date.now();
      const error = await failureOf(reader.resolve());
      expect(Date.now() - started).toBeLessThan(200);
      expect(error).toMatchObject({ code: 'WEBHOOK_URL_UNAVAILABLE' });
      expect(error.reasons[0]).toMatchObject({
        code: 'WEBHOOK_URL_CACHE_UNAVAILABLE',
        retryable: true,
      });
    } finally {
      await redis.start();
    }
    await vi.waitFor(() => expect(client.status).toBe('ready'), { timeout: 5_000 });
    const reader = resolverWith({ sources: ['cache'], cacheKey, lookup: publicLookup });
    await expect(reader.resolve()).resolves.toMatchObject({ source: 'cache' });
  });

  it('reports the cache as not configured without a Redis connection', async () => {
    const audit = memoryAuditLog();
    const resolver = createWebhookUrlResolver({
      sources: ['cache'],
      audit,
      logger: captureLogger().logger,
    });
    const error = await failureOf(resolver.resolve());
    expect(error.reasons[0]).toMatchObject({
      code: 'WEBHOOK_URL_NOT_CONFIGURED',
      reason: expect.stringContaining('REDIS_URL'),
    });
  });

  it('lets another process read the last verified URL without verifying it, and says when there is none', async () => {
    const cacheKey = `test:${randomUUID()}`;
    await expect(readCachedResolution(client, { key: cacheKey })).resolves.toBeUndefined();
    const writer = resolverWith({
      publicBaseUrl: 'https://gw.example.com',
      lookup: publicLookup,
      cacheKey,
    });
    await writer.resolve();
    // No lookup, no probe: the entry as the writer verified it.
    await expect(readCachedResolution(client, { key: cacheKey })).resolves.toMatchObject({
      baseUrl: 'https://gw.example.com',
      source: 'cloud_config',
      verifiedBy: 'dns',
    });
    await client.set(cacheKey, '{"baseUrl":');
    await expect(readCachedResolution(client, { key: cacheKey })).resolves.toBeUndefined();
  });
});
