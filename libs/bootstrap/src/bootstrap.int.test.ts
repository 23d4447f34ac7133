import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { createLogger } from '@callback-gateway/audit';
import { GATEWAY_CONDITIONS } from '@callback-gateway/notify';
import { createMetricsRegistry } from '@callback-gateway/runtime';
import { freePort, startRedis, type TestRedis } from '@callback-gateway/testing';
import { DEFAULT_PROBE_KEY_KEY, webhookUrlEnvSchema } from '@callback-gateway/webhook-url';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createQueueErrorReporter,
  redisReadiness,
  startProcessBasics,
  startPublicUrlResolver,
  type ProcessBasics,
  type ProcessBasicsSettings,
} from './index.js';

function captured() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, destination };
}

function settings(redisUrl: string, extra: Partial<ProcessBasicsSettings> = {}) {
  return {
    LOG_LEVEL: 'debug',
    REDIS_URL: redisUrl,
    REDIS_CLUSTER_NODES: [],
    OUTBOUND_ALLOW: [],
    AUDIT_STREAM_MAX_LENGTH: 1_000,
    AUDIT_REGISTRATION_RETENTION_S: 86_400,
    NOTIFY_WEBHOOK_URLS: [],
    NOTIFY_WEBHOOK_SECRET: undefined,
    NOTIFY_SLACK_WEBHOOK_URLS: [],
    NOTIFY_REPEAT_AFTER_S: 3_600,
    NOTIFY_MAX_PER_MINUTE: 20,
    NGROK_AUTHTOKEN: undefined,
    WEBHOOK_URL_PROBE_KEY: undefined,
    ...extra,
  } satisfies ProcessBasicsSettings;
}

describe('startProcessBasics', () => {
  let basics: ProcessBasics | undefined;
  let redis: TestRedis | undefined;
  afterEach(async () => {
    await basics?.close();
    await redis?.close();
    basics = undefined;
    redis = undefined;
  });

  it('masks the process secrets and the shared ones in every log line', async () => {
    const out = captured();
    basics = startProcessBasics({
      process: 'gateway',
      settings: settings(`redis://127.0.0.1:${await freePort()}`, {
        NGROK_AUTHTOKEN: 'ngrok-token-0123456789',
        NOTIFY_SLACK_WEBHOOK_URLS: ['https://hooks.slack.com/services/T000/B000/slacksecret'],
      }),
      secrets: ['api-token-abcdefghijkl'],
      conditions: GATEWAY_CONDITIONS,
      logDestination: out.destination,
    });
    basics.logger.warn(
      'leaked: api-token-abcdefghijkl ngrok-token-0123456789 https://hooks.slack.com/services/T000/B000/slacksecret',
    );
    const line = out.lines.find((text) => text.includes('leaked'));
    expect(line).toBeDefined();
    expect(line).not.toContain('api-token-abcdefghijkl');
    expect(line).not.toContain('ngrok-token-0123456789');
    expect(line).not.toContain('slacksecret');
    expect(basics.notifier).toBeDefined();
  });

  it('says why Redis is not ready, naming the server without its password', async () => {
    const port = await freePort();
    const out = captured();
    basics = startProcessBasics({
      process: 'worker',
      settings: settings(`redis://app:hunter2hunter2@127.0.0.1:${port}`),
      secrets: [],
      conditions: [],
      logDestination: out.destination,
    });
    expect(basics.notifier).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const check = redisReadiness(basics.redis);
    const answer = check.check();
    expect(answer).toMatch(new RegExp(`^Redis at redis://127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
    expect(String(answer)).not.toContain('hunter2');
    expect(check.name).toBe('redis');
  });

  it('writes the audit trail to the Redis stream once Redis is there, and closes what it opened', async () => {
    redis = await startRedis();
    basics = startProcessBasics({
      process: 'gateway',
      settings: settings(redis.url),
      secrets: [],
      conditions: [],
      logDestination: captured().destination,
    });
    await basics.redis.waitUntilReady();
    basics.audit.record({
      type: 'webhook_url.changed',
      data: { old_url: 'a', new_url: 'b', source: 'cache' },
    });
    const client = basics.redis.client;
    await basics.close();
    for (let i = 0; i < 100 && client.status !== 'end'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(client.status).toBe('end');
    const reader = new Redis(redis.url);
    const entries = await reader.xrange('{cbgw}:audit:events', '-', '+');
    expect(entries.map(([, fields]) => fields.join(' '))).toEqual([
      expect.stringContaining('webhook_url.changed'),
    ]);
    reader.disconnect();
  });
});

describe('startPublicUrlResolver', () => {
  let redis: TestRedis | undefined;
  afterEach(async () => {
    await redis?.close();
    redis = undefined;
  });

  it('starts the resolver once Redis appears, with the probe key shared there', async () => {
    const port = await freePort();
    const basics = startProcessBasics({
      process: 'worker',
      settings: settings(`redis://127.0.0.1:${port}`),
      secrets: [],
      conditions: [],
      logDestination: captured().destination,
    });
    const created: unknown[] = [];
    const starting = startPublicUrlResolver({
      settings: webhookUrlEnvSchema.parse({ PUBLIC_BASE_URL: 'https://callbacks.example.com' }),
      redis: basics.redis,
      audit: basics.audit,
      logger: basics.logger,
      registry: basics.registry,
      onCreated: (resolver) => void created.push(resolver),
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(starting.current()).toBeUndefined();
    expect(starting.probeKey()).toBeUndefined();

    redis = await startRedis({ port });
    const deadline = Date.now() + 10_000;
    while (!starting.current() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(starting.current()).toBeDefined();
    expect(created).toEqual([starting.current()]);
    const reader = new Redis(redis.url);
    expect(starting.probeKey()).toBe(await reader.get(DEFAULT_PROBE_KEY_KEY));
    reader.disconnect();
    await starting.close();
    await basics.close();
  });

  it('closes at once while Redis is away', async () => {
    const basics = startProcessBasics({
      process: 'worker',
      settings: settings(`redis://127.0.0.1:${await freePort()}`),
      secrets: [],
      conditions: [],
      logDestination: captured().destination,
    });
    const starting = startPublicUrlResolver({
      settings: webhookUrlEnvSchema.parse({}),
      redis: basics.redis,
      audit: basics.audit,
      logger: basics.logger,
      registry: basics.registry,
    });
    // Several backoff rounds in: the next wait may be seconds long.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const started = Date.now();
    await starting.close();
    expect(Date.now() - started).toBeLessThan(500);
    expect(starting.current()).toBeUndefined();
    await basics.close();
  });
});

describe('createQueueErrorReporter', () => {
  it('counts every queue error, and warns unless Redis is known to be away', async () => {
    const out = captured();
    const logger = createLogger({ name: 'test', level: 'debug', destination: out.destination });
    const registry = createMetricsRegistry({ process: 'test' });
    let ready = true;
    const watch = createQueueErrorReporter({ logger, registry, redisReady: () => ready });
    const queue = new EventEmitter();
    watch('deliveries', queue);
    queue.emit('error', new Error('Missing lock for job 7'));
    ready = false;
    queue.emit('error', new Error('Connection is closed.'));
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/cbgw_queue_errors_total\{queue="deliveries",process="test"\} 2/);
    const levels = out.lines
      .map((line) => JSON.parse(line) as { level: string; msg: string })
      .map(({ level, msg }) => `${level} ${msg}`);
    expect(levels).toEqual([
      'warn queue deliveries: Missing lock for job 7',
      'debug queue deliveries (Redis away): Connection is closed.',
    ]);
  });
});
