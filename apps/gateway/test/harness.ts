import { Writable } from 'node:stream';
import { createAuditLog, createLogger, type AuditEvent } from '@callback-gateway/audit';
import { createOutboundPolicy } from '@callback-gateway/outbound';
import { createMetricsRegistry } from '@callback-gateway/runtime';
import {
  QUEUES,
  createDeliveryStore,
  createIntake,
  createRegistrationStore,
  createSubmissionStore,
  decodeCallbackRecord,
  storeKeys,
  type CallbackRecord,
  type ParseSubmissionJob,
} from '@callback-gateway/store';
import { Queue } from 'bullmq';
import type { TestRedis } from '@callback-gateway/testing';
import { createWebhookUrlResolver } from '@callback-gateway/webhook-url';
import { Redis } from 'ioredis';
import { buildApp, type GatewayApp } from '../src/app.js';

export const API_TOKEN = 'test-api-token-0123456789';
export const PUBLIC_BASE = 'https://hooks.example.com';
export const PIPELINE = 'https://pipeline.example.com/hooks';

/** Options for {@link startGateway}. */
export interface TestGatewayOptions {
  redis: TestRedis;
  /** Omit to have no public URL source at all. @defaultValue PUBLIC_BASE */
  publicBaseUrl?: string | null;
  bodyLimitBytes?: number;
  callbackInflightBytes?: number;
  /** Store partitions. @defaultValue 1 */
  partitions?: number;
  /** Local-only mode (`GATEWAY_LOCAL_ONLY`): the loopback base URL it issues. */
  localOnlyBaseUrl?: string;
  uploadLimitBytes?: number;
  requestTimeoutMs?: number;
  outboundAllow?: string[];
  /** `GATEWAY_TRUSTED_PROXIES`. @defaultValue none */
  trustedProxies?: string[];
}

/** A gateway app on a real Redis, with what a test needs to look inside. */
export interface TestGateway {
  app: GatewayApp;
  redis: Redis;
  audit: AuditEvent[];
  logs: string[];
  keys: ReturnType<typeof storeKeys>;
  parseQueue: Queue<ParseSubmissionJob>;
  /** A stored callback as the intake wrote it (undefined when there is none). */
  stored(callbackId: string): Promise<CallbackRecord | undefined>;
  close(): Promise<void>;
}

/** Builds the gateway as `main.ts` does, on the test's Redis, with a fake DNS for pipelines. */
export async function startGateway(options: TestGatewayOptions): Promise<TestGateway> {
  const logs: string[] = [];
  const logger = createLogger({
    name: 'gateway-test',
    level: 'debug',
    destination: new Writable({
      write(chunk, _encoding, done) {
        logs.push(String(chunk));
        done();
      },
    }),
  });
  const redis = new Redis(options.redis.url, {
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 50,
  });
  redis.on('error', () => undefined);
  await new Promise((resolve) => redis.once('ready', resolve));
  const audit: AuditEvent[] = [];
  const auditLog = createAuditLog({
    actor: { kind: 'system', id: 'gateway' },
    sinks: [{ name: 'memory', write: (events) => void audit.push(...events) }],
    logger,
  });
  const publicBaseUrl = options.publicBaseUrl === undefined ? PUBLIC_BASE : options.publicBaseUrl;
  const resolver = createWebhookUrlResolver({
    sources: ['cloud_config'],
    publicBaseUrl: publicBaseUrl ?? undefined,
    verify: 'syntax',
    audit: auditLog,
    logger,
  });
  const keys = storeKeys(`t${Math.random().toString(36).slice(2, 8)}`, {
    partitions: options.partitions ?? 1,
  });
  const registry = createMetricsRegistry({ process: 'gateway' });
  const parseQueue = new Queue<ParseSubmissionJob>(QUEUES.parseSubmissions, {
    connection: redis,
    prefix: `{${keys.prefix}}`,
  });
  const deliveryQueues = keys.all.map(
    (own) => new Queue(QUEUES.deliveries, { connection: redis, prefix: own.tag }),
  );
  const app = await buildApp({
    logger,
    registry,
    audit: auditLog,
    settings: {
      bodyLimitBytes: options.bodyLimitBytes ?? 10 * 1024 * 1024,
      callbackInflightBytes: options.callbackInflightBytes ?? 32 * 1024 * 1024,
      registrationTtlSeconds: 7 * 86_400,
      expectCallbackWithinSeconds: 3_600,
      uploadLimitBytes: options.uploadLimitBytes ?? 1024 * 1024,
    },
    apiTokens: [API_TOKEN],
    registrations: createRegistrationStore({ redis, keys }),
    intake: createIntake({ redis, keys }),
    deliveries: createDeliveryStore({ redis, keys }),
    keys,
    redis,
    submissions: createSubmissionStore({ redis, keys }),
    parseQueue,
    deliveryQueues,
    outbound: createOutboundPolicy({
      allow: options.outboundAllow ?? [],
      lookup: async (host) => {
        const table: Record<string, string> = {
          'pipeline.example.com': '93.184.216.34',
          'internal.example.com': '10.0.0.8',
        };
        const address = table[host];
        if (!address) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
        return [{ address, family: 4 }];
      },
    }),
    webhookUrl: () => resolver,
    ...(options.localOnlyBaseUrl !== undefined && {
      localOnlyBaseUrl: () => options.localOnlyBaseUrl,
    }),
    ...(options.requestTimeoutMs !== undefined && { requestTimeoutMs: options.requestTimeoutMs }),
    ...(options.trustedProxies && { trustedProxies: options.trustedProxies }),
    probeKey: () => 'probe-key-0123456789abcdef',
    readinessChecks: [{ name: 'redis', check: () => redis.status === 'ready' || redis.status }],
  });
  return {
    app,
    redis,
    audit,
    logs,
    keys,
    parseQueue,
    async stored(callbackId) {
      const text = await redis.get(keys.callback(callbackId));
      return text === null ? undefined : decodeCallbackRecord(text);
    },
    async close() {
      await app.close();
      await parseQueue.close();
      await Promise.all(deliveryQueues.map((queue) => queue.close()));
      await resolver.close();
      await auditLog.close(100);
      redis.disconnect();
    },
  };
}

/** The 201 body of a registration. */
export interface RegistrationReply {
  id: string;
  callback_url: string;
  signing_secret: string;
  delivery_secret: string;
  [field: string]: unknown;
}

/** Registers a job through the API and returns the 201 body. */
export async function register(
  gateway: TestGateway,
  body: Record<string, unknown> = {},
): Promise<RegistrationReply> {
  const response = await gateway.app.inject({
    method: 'POST',
    url: '/v1/registrations',
    headers: { authorization: `Bearer ${API_TOKEN}` },
    payload: { deliver_to: PIPELINE, ...body },
  });
  if (response.statusCode !== 201) {
    throw new Error(`registration failed: ${response.statusCode} ${response.body}`);
  }
  return response.json();
}

/** The path part of a callback URL (what `inject` needs). */
export function callbackPath(callbackUrl: string): string {
  return new URL(callbackUrl).pathname;
}
