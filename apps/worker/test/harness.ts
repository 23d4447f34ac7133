import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { createAuditLog, createLogger, type AuditEvent } from '@callback-gateway/audit';
import { createOutboundPolicy } from '@callback-gateway/outbound';
import { createMetricsRegistry } from '@callback-gateway/runtime';
import {
  createDeliveryStore,
  createIntake,
  createRegistrationStore,
  storeKeys,
  parseCallbackHeader,
  type IncomingCallback,
  type IngestEntry,
  type NewRegistration,
  type Registration,
} from '@callback-gateway/store';
import type { TestRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { startDeliveryService, type DeliveryService } from '../src/delivery/service.js';

export const DELIVERY_SECRET = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;

/** What a pipeline received. */
export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

/** A pipeline on loopback whose answer per path the test decides. */
export interface Pipeline {
  url(path: string): string;
  received: Received[];
  on(
    path: string,
    answer: (
      request: Received,
      count: number,
    ) => { status: number; headers?: Record<string, string> } | 'hang',
  ): void;
  close(): Promise<void>;
}

export async function startPipeline(): Promise<Pipeline> {
  const routes = new Map<
    string,
    (
      request: Received,
      count: number,
    ) => { status: number; headers?: Record<string, string> } | 'hang'
  >();
  const counts = new Map<string, number>();
  const received: Received[] = [];
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      const entry = {
        path,
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      received.push(entry);
      const count = (counts.get(path) ?? 0) + 1;
      counts.set(path, count);
      const answer = routes.get(path)?.(entry, count) ?? { status: 200 };
      if (answer === 'hang') {
        hanging.add(response);
        return;
      }
      response.writeHead(answer.status, answer.headers).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    received,
    on: (path, answer) => void routes.set(path, answer),
    async close() {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The delivery service on a test Redis, plus the stores to feed and inspect it. */
export interface DeliveryHarness {
  service: DeliveryService;
  redis: Redis;
  audit: AuditEvent[];
  registry: Registry;
  keys: ReturnType<typeof storeKeys>;
  registrations: ReturnType<typeof createRegistrationStore>;
  deliveries: ReturnType<typeof createDeliveryStore>;
  /** Registers a job delivering to `deliverTo`, as the gateway would. */
  register(deliverTo: string): Promise<Registration>;
  /** Stores a callback as the gateway would; returns its id (the webhook-id). */
  callback(registration: Registration, eventId: string, eventType?: string): Promise<string>;
  /** Resolves once `check()` holds (polling), or fails after `timeoutMs`. */
  until(check: () => Promise<boolean> | boolean, timeoutMs?: number): Promise<void>;
  /** A stored callback's entry in its partition's ingest stream, as the pump reads it. */
  ingestEntry(callbackId: string): Promise<IngestEntry>;
  close(): Promise<void>;
}

/** What a pipeline registers in these tests (the harness's `register`), delivering to `deliverTo`. */
export function newRegistration(deliverTo: string): NewRegistration {
  const now = Date.now();
  return {
    source: 'llamaparse',
    deliverTo,
    parseJobId: 'job-1',
    metadata: { document: 'a.pdf' },
    signingSecret: 'signing-secret-0123456789',
    deliverySecret: DELIVERY_SECRET,
    requireSignature: false,
    callbackBaseUrl: 'https://hooks.example.com',
    callbackUrlSource: 'cloud_config',
    apiClient: 'token#1',
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 86_400_000).toISOString(),
    expectCallbackBy: new Date(now + 3_600_000).toISOString(),
  };
}

/** A non-final event callback of job-1 as the gateway stores it (the harness's `callback`). */
export function newCallback(
  registrationId: string,
  eventId: string,
  eventType = 'parse.success',
): IncomingCallback {
  return {
    registrationId,
    format: 'event',
    payloadJson: JSON.stringify({
      event_id: eventId,
      event_type: eventType,
      data: { job_id: 'job-1' },
    }),
    contentType: 'application/json',
    receivedAt: new Date().toISOString(),
    dedupKey: `event:${eventId}`,
    eventType,
    eventId,
    jobId: 'job-1',
    stringEncoded: false,
    signature: 'absent',
    final: false,
  };
}

export async function startDeliveryHarness(
  server: TestRedis,
  options: {
    schedule?: number[];
    totalMs?: number;
    breakerFailures?: number;
    breakerOpenMs?: number;
    lockDurationMs?: number;
    /** Store partitions (registrations go to one at random). @defaultValue 1 */
    partitions?: number;
  } = {},
): Promise<DeliveryHarness> {
  const logger = createLogger({
    name: 'worker-test',
    level: 'warn',
    destination: new Writable({ write: (_chunk, _encoding, done) => done() }),
  });
  const connect = (role: 'consumer' | 'producer') => {
    const redis = new Redis(
      server.url,
      role === 'consumer'
        ? { maxRetriesPerRequest: null, retryStrategy: () => 50 }
        : { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 50 },
    );
    redis.on('error', () => undefined);
    return redis;
  };
  const [bull, store, feeder] = [connect('consumer'), connect('consumer'), connect('consumer')];
  const partitions = options.partitions ?? 1;
  const pumps = Array.from({ length: partitions }, () => connect('consumer'));
  const audit: AuditEvent[] = [];
  const auditLog = createAuditLog({
    actor: { kind: 'system', id: 'worker' },
    sinks: [{ name: 'memory', write: (events) => void audit.push(...events) }],
    logger,
  });
  const keys = storeKeys(`w${Math.random().toString(36).slice(2, 8)}`, { partitions });
  const registry = createMetricsRegistry({ process: 'worker' });
  const service = startDeliveryService({
    connection: bull,
    pumpRedis: pumps,
    storeRedis: store,
    keys,
    policy: createOutboundPolicy({ allow: ['127.0.0.1'] }),
    retry: { scheduleSeconds: options.schedule ?? [0, 0.2, 0.2, 0.2], jitter: 0 },
    timeouts: {
      connectMs: 1_000,
      headersMs: options.totalMs ?? 2_000,
      totalMs: options.totalMs ?? 2_000,
    },
    breaker: {
      consecutiveFailures: options.breakerFailures ?? 50,
      openMs: options.breakerOpenMs ?? 500,
    },
    concurrency: 10,
    lockDurationMs: options.lockDurationMs ?? 5_000,
    audit: auditLog,
    logger,
    registry,
  });
  const registrations = createRegistrationStore({ redis: feeder, keys });
  const intake = createIntake({ redis: feeder, keys });
  const deliveries = createDeliveryStore({ redis: feeder, keys });
  return {
    service,
    redis: feeder,
    audit,
    registry,
    keys,
    registrations,
    deliveries,
    register: (deliverTo) =>
      registrations.create(newRegistration(deliverTo), registrations.newToken()),
    async callback(registration, eventId, eventType = 'parse.success') {
      const result = await intake.store(newCallback(registration.id, eventId, eventType));
      if (result.outcome !== 'stored') throw new Error(`callback not stored: ${result.outcome}`);
      return result.callbackId;
    },
    async ingestEntry(callbackId) {
      const stream = keys.of(callbackId).ingest;
      for (const [entryId, fields] of await feeder.xrange(stream, '-', '+')) {
        if (fields[1] !== callbackId) continue;
        return {
          entryId,
          callbackId,
          registrationId: fields[3] ?? '',
          replay: 0,
          header: parseCallbackHeader(fields[5] ?? ''),
        };
      }
      throw new Error(`${callbackId} is not in the ingest stream`);
    },
    async until(check, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error('condition not met in time');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    async close() {
      await service.close(2_000);
      await auditLog.close(100);
      for (const redis of [bull, ...pumps, store, feeder]) redis.disconnect();
    },
  };
}
