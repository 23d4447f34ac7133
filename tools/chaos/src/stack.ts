import { startAppStack, type AppStack, type TestRedis } from '@callback-gateway/testing';

export const API_TOKEN = 'chaos-api-token-0123456789abcdef';

/** The built gateway and worker, running as processes on loopback (see `startAppStack`). */
export type Stack = AppStack;

/** Test defaults every scenario starts from; a scenario overrides what its fault needs. */
export const CHAOS_DEFAULTS: Readonly<Record<string, string>> = {
  LOG_LEVEL: 'warn',
  PUBLIC_BASE_URL: 'https://hooks.example.com',
  WEBHOOK_URL_VERIFY: 'syntax',
  GATEWAY_API_TOKENS: API_TOKEN,
  OUTBOUND_ALLOW: '127.0.0.1',
  DELIVERY_RETRY_SCHEDULE: '0,0.5,1,2,4',
  // A killed worker's deliveries come back after this long, not after a minute.
  DELIVERY_LOCK_DURATION_MS: '3000',
  // Pipelines of one scenario may share an origin: only the breaker scenario wants it early.
  DELIVERY_BREAKER_FAILURES: '1000',
  // When a breaker does open (50 % failures), its probes come within seconds, not minutes.
  DELIVERY_BREAKER_OPEN_MS: '1000',
  SHUTDOWN_DEADLINE_MS: '3000',
};

/**
 * Starts gateway and worker against `redisUrl` with `env` over {@link CHAOS_DEFAULTS}. With
 * `waitReady: false` it returns as soon as both processes run (Redis may be away on purpose).
 */
export function startStack(
  redis: TestRedis,
  env: Record<string, string> = {},
  options: { waitReady?: boolean } = {},
): Promise<Stack> {
  return startAppStack({
    redisUrl: redis.url,
    env: { ...CHAOS_DEFAULTS, ...env },
    readyTimeoutMs: 30_000,
    ...(options.waitReady !== undefined && { waitReady: options.waitReady }),
  });
}

/** A registration the load driver posts callbacks to. */
export interface Registration {
  id: string;
  /** Path of `callback_url`, posted to on the gateway's local port. */
  callbackPath: string;
  /** Path on its pipeline. */
  path: string;
  deliverySecret: string;
  /** The parser's `LC-Signature` key of this registration. */
  signingSecret: string;
}

/** Registers `deliverTo` (a pipeline URL) and returns the callback path to post to. */
export async function register(stack: Stack, deliverTo: string): Promise<Registration> {
  const response = await fetch(`${stack.gatewayUrl}/v1/registrations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ deliver_to: deliverTo }),
  });
  if (response.status !== 201) {
    throw new Error(`registration refused: ${response.status} ${await response.text()}`);
  }
  const body = (await response.json()) as {
    id: string;
    callback_url: string;
    delivery_secret: string;
    signing_secret: string;
  };
  const callbackPath = new URL(body.callback_url).pathname;
  return {
    id: body.id,
    callbackPath,
    path: new URL(deliverTo).pathname,
    deliverySecret: body.delivery_secret,
    signingSecret: body.signing_secret,
  };
}

/** Calls a bearer endpoint of the gateway and parses its JSON answer. */
export async function gatewayApi<T>(
  stack: Pick<Stack, 'gatewayUrl'>,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${stack.gatewayUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${API_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as T };
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls until `check()` holds, or throws after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(100);
  }
}
