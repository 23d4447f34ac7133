import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createGatewayClient,
  verifyDelivery,
  type GatewayClient,
  type RegistrationCreated,
  type VerifiedDelivery,
} from '@callback-gateway/client';
import {
  startAppStack,
  startRedis,
  type AppStack,
  type StartRedisOptions,
  type TestRedis,
  type TestRedisCluster,
} from '@callback-gateway/testing';
import { startLlamaCloudFake, type LlamaCloudFake } from '@callback-gateway/llamacloud/testing';
import { afterAll, beforeAll } from 'vitest';

export const API_TOKEN = 'e2e-api-token-0123456789abcdef';

/** The built gateway and worker, running as processes on loopback (see `startAppStack`). */
export type Stack = AppStack;

const STACK_DEFAULTS: Record<string, string> = {
  LOG_LEVEL: 'warn',
  PUBLIC_BASE_URL: 'https://hooks.example.com',
  WEBHOOK_URL_VERIFY: 'syntax',
  GATEWAY_API_TOKENS: API_TOKEN,
  OUTBOUND_ALLOW: '127.0.0.1',
  DELIVERY_RETRY_SCHEDULE: '0,0.2,0.2,0.2',
  DELIVERY_LOCK_DURATION_MS: '3000',
  // Every test pipeline shares one origin (127.0.0.1:<port>): keep its breaker out of the way.
  DELIVERY_BREAKER_FAILURES: '1000',
  SHUTDOWN_DEADLINE_MS: '3000',
};

/**
 * The LlamaCloud fake and the stack started against it, reconciling fast: the fake's callbacks
 * go to the stack's gateway (except for the jobs in `dropped`), and the worker polls it within
 * a second. `env` adds to (or overrides) those settings.
 */
export async function startStackWithLlamaCloud(
  redis: TestRedis | TestRedisCluster,
  options: { dropped: ReadonlySet<string>; env?: Record<string, string> },
): Promise<{ stack: Stack; fake: LlamaCloudFake }> {
  const gatewayAt: { url?: string } = {};
  const fake = await startLlamaCloudFake({
    rewriteCallbackUrl: (url) => `${gatewayAt.url}${new URL(url).pathname}`,
    dropCallbacks: (jobId) => options.dropped.has(jobId),
    retryDelaysMs: [100, 200],
  });
  try {
    const stack = await startStack(redis, {
      LLAMA_CLOUD_BASE_URL: fake.baseUrl,
      LLAMA_CLOUD_API_KEY: fake.apiKey,
      RECONCILE_INTERVAL_MS: '200',
      RECONCILE_FIRST_POLL_DELAY_MS: '300',
      RECONCILE_MAX_POLL_DELAY_MS: '1000',
      ...options.env,
    });
    gatewayAt.url = stack.gatewayUrl;
    return { stack, fake };
  } catch (error) {
    await fake.close();
    throw error;
  }
}

/** Starts gateway and worker (on a Redis or a Redis Cluster) with `env` added to test defaults, and waits until both are ready. */
export function startStack(
  redis: TestRedis | TestRedisCluster,
  env: Record<string, string> = {},
  options: {
    gatewayReady?: '/readyz' | '/readyz/ingest';
    /** Reach Redis over its Unix socket (started with `unixSocket`) instead of TCP. */
    overSocket?: boolean;
  } = {},
): Promise<Stack> {
  if ('seeds' in redis) {
    return startAppStack({
      redisUrl: 'redis://127.0.0.1:6379',
      redisClusterNodes: redis.seeds,
      env: { ...STACK_DEFAULTS, ...env },
      ...(options.gatewayReady && { gatewayReady: options.gatewayReady }),
    });
  }
  let redisUrl = redis.url;
  if (options.overSocket) {
    if (!redis.socketUrl) throw new Error('start the test Redis with unixSocket');
    redisUrl = redis.socketUrl;
  }
  return startAppStack({
    redisUrl,
    env: { ...STACK_DEFAULTS, ...env },
    ...(options.gatewayReady && { gatewayReady: options.gatewayReady }),
  });
}

/** What a pipeline received and verified. */
export interface PipelineReceipt {
  path: string;
  delivery: VerifiedDelivery;
  /** The body as it arrived (numbers with all their digits). */
  raw: string;
  at: number;
}

/** A pipeline on loopback that verifies every delivery with the client library. */
export interface TestPipeline {
  url(path: string): string;
  receipts: PipelineReceipt[];
  /** Paths of every request that arrived (before its answer). */
  received: string[];
  /** Deliveries that failed verification (must stay empty). */
  rejected: string[];
  /** Decide the answer for a path (default 200); `delayMs` holds the answer back. */
  on(path: string, answer: () => { status: number; delayMs?: number }): void;
  close(): Promise<void>;
}

export async function startTestPipeline(
  secretFor: (path: string) => string,
): Promise<TestPipeline> {
  const routes = new Map<string, () => { status: number; delayMs?: number }>();
  const receipts: PipelineReceipt[] = [];
  const received: string[] = [];
  const rejected: string[] = [];
  const server: Server = createServer((request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      received.push(path);
      const answer = routes.get(path)?.() ?? { status: 200 };
      const finish = () => {
        if (answer.status >= 200 && answer.status < 300) {
          try {
            const raw = Buffer.concat(chunks);
            const delivery = verifyDelivery(request.headers, raw, secretFor(path));
            receipts.push({ path, delivery, raw: raw.toString('utf8'), at: Date.now() });
          } catch (error) {
            rejected.push(`${path}: ${String(error)}`);
            response.writeHead(400).end();
            return;
          }
        }
        response.writeHead(answer.status).end();
      };
      if (answer.delayMs) setTimeout(finish, answer.delayMs);
      else finish();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    receipts,
    received,
    rejected,
    on: (path, answer) => void routes.set(path, answer),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A suite's own Redis, the apps on it, and a pipeline that verifies each path's deliveries. */
export interface E2eWorld {
  readonly redis: TestRedis;
  readonly stack: Stack;
  readonly pipeline: TestPipeline;
  /** The gateway's API, as a pipeline uses it. */
  client(): GatewayClient;
  /** Registers a job delivering to `path` on the pipeline, which then verifies its deliveries
   * with the registration's delivery secret. */
  register(path: string): Promise<RegistrationCreated>;
}

/**
 * Starts a world before the tests of the enclosing `describe` and stops it after them: Redis
 * (`redis` options), the pipeline, then gateway and worker (`env`, `overSocket` as for
 * {@link startStack}).
 */
export function useE2eWorld(
  options: {
    redis?: StartRedisOptions;
    env?: Record<string, string>;
    overSocket?: boolean;
  } = {},
): E2eWorld {
  let redis: TestRedis | undefined;
  let stack: Stack | undefined;
  let pipeline: TestPipeline | undefined;
  const secrets = new Map<string, string>();
  const started = <T>(part: T | undefined, name: string): T => {
    if (part === undefined) throw new Error(`the e2e world's ${name} is not started`);
    return part;
  };
  beforeAll(async () => {
    redis = await startRedis(options.redis);
    pipeline = await startTestPipeline((path) => secrets.get(path) ?? 'whsec_missing');
    stack = await startStack(redis, options.env, {
      ...(options.overSocket && { overSocket: true }),
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
    await redis?.close();
  });
  const world: E2eWorld = {
    get redis() {
      return started(redis, 'Redis');
    },
    get stack() {
      return started(stack, 'stack');
    },
    get pipeline() {
      return started(pipeline, 'pipeline');
    },
    client: () => createGatewayClient({ baseUrl: world.stack.gatewayUrl, token: API_TOKEN }),
    async register(path) {
      const registration = await world.client().register({ deliverTo: world.pipeline.url(path) });
      secrets.set(path, registration.deliverySecret);
      return registration;
    },
  };
  return world;
}

/** Posts a LlamaParse-style event envelope to a callback URL, through the gateway's local port. */
export async function postCallback(
  stack: Stack,
  callbackUrl: string,
  body: unknown,
): Promise<Response> {
  const path = new URL(callbackUrl).pathname;
  return fetch(`${stack.gatewayUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'llamaindex-webhook-service/1.0' },
    body: JSON.stringify(body),
  });
}

/** Polls until `check()` holds. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
