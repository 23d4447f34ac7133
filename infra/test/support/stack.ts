import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAppStack, type AppStack, type TestRedis } from '@callback-gateway/testing';

export const API_TOKEN = 'infra-test-api-token-0123456789';

export type { AppStack };

/** Starts gateway and worker with `env` added to test defaults; waits until both are ready. */
export function startApps(redis: TestRedis, env: Record<string, string> = {}): Promise<AppStack> {
  return startAppStack({
    redisUrl: redis.url,
    env: {
      LOG_LEVEL: 'warn',
      PUBLIC_BASE_URL: 'https://hooks.example.com',
      WEBHOOK_URL_VERIFY: 'syntax',
      GATEWAY_API_TOKENS: API_TOKEN,
      GATEWAY_HOST: '127.0.0.1',
      WORKER_HOST: '127.0.0.1',
      OUTBOUND_ALLOW: '127.0.0.1',
      SHUTDOWN_DEADLINE_MS: '3000',
      ...env,
    },
  });
}

/** A local HTTP server that records JSON request bodies and answers with `status`. */
export interface Recorder {
  url: string;
  bodies: unknown[];
  status: number;
  close(): Promise<void>;
}

export async function startRecorder(status = 200): Promise<Recorder> {
  const bodies: unknown[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      try {
        bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
      } catch {
        bodies.push(null);
      }
      response.writeHead(recorder.status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const recorder: Recorder = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    status,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return recorder;
}

/** Registers a job whose deliveries go to `deliverTo`; resolves the callback path on the gateway. */
export async function register(stack: AppStack, deliverTo: string): Promise<string> {
  const response = await fetch(`${stack.gatewayUrl}/v1/registrations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ deliver_to: deliverTo }),
  });
  const body = (await response.json()) as { callback_url?: string };
  if (response.status !== 201 || !body.callback_url) {
    throw new Error(`registration failed: ${response.status} ${JSON.stringify(body)}`);
  }
  return new URL(body.callback_url).pathname;
}

/** Posts a LlamaParse progress event (not final: every one of them is delivered). */
export async function postProgressEvent(
  stack: AppStack,
  callbackPath: string,
  eventId: string,
): Promise<void> {
  const response = await fetch(`${stack.gatewayUrl}${callbackPath}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event_id: eventId, event_type: 'parse.running', data: { job_id: 'j' } }),
  });
  if (response.status !== 202) throw new Error(`callback ${eventId} answered ${response.status}`);
}

/** Polls until `check()` holds. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
