import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectNoToken, failure } from '../test/assertions.js';
import {
  startFakeGateway,
  viewReply,
  type FakeGateway,
  type FakeReply,
} from '../test/fake-gateway.js';
import { createGatewayClient, type GatewayClient } from './client.js';

let gateway: FakeGateway;
let client: GatewayClient;

beforeEach(async () => {
  gateway = await startFakeGateway();
  client = createGatewayClient({ baseUrl: gateway.baseUrl, token: gateway.token });
});

afterEach(async () => {
  await gateway.close();
});

describe('gateway errors', () => {
  const cases: {
    name: string;
    reply: FakeReply;
    code: string;
    retryable: boolean;
    expected?: Record<string, unknown>;
  }[] = [
    {
      name: '401 unauthorized',
      reply: { status: 401, body: { error: 'unauthorized', message: 'Bad token.' } },
      code: 'GATEWAY_UNAUTHORIZED',
      retryable: false,
      expected: { serverError: 'unauthorized', serverMessage: 'Bad token.' },
    },
    {
      name: '400 invalid_request with its issues',
      reply: {
        status: 400,
        body: { error: 'invalid_request', message: 'Bad.', issues: [{ path: ['deliver_to'] }] },
      },
      code: 'GATEWAY_INVALID_REQUEST',
      retryable: false,
      expected: { details: { issues: [{ path: ['deliver_to'] }] } },
    },
    {
      name: '400 destination_refused with the refusal code',
      reply: {
        status: 400,
        body: {
          error: 'destination_refused',
          message: 'Private.',
          code: 'OUTBOUND_PRIVATE_ADDRESS',
        },
      },
      code: 'GATEWAY_DESTINATION_REFUSED',
      retryable: false,
      expected: { details: { code: 'OUTBOUND_PRIVATE_ADDRESS' } },
    },
    {
      name: '404 not_found',
      reply: { status: 404, body: { error: 'not_found', message: 'No such registration.' } },
      code: 'GATEWAY_NOT_FOUND',
      retryable: false,
    },
    {
      name: '409 conflict',
      reply: { status: 409, body: { error: 'conflict', message: 'Job already attached.' } },
      code: 'GATEWAY_CONFLICT',
      retryable: false,
    },
    {
      name: '503 webhook_url_unavailable with its reasons',
      reply: {
        status: 503,
        body: {
          error: 'webhook_url_unavailable',
          message: 'No public URL.',
          reasons: [{ source: 'ngrok', code: 'WEBHOOK_URL_NGROK_AUTH', reason: 'bad authtoken' }],
        },
      },
      code: 'GATEWAY_WEBHOOK_URL_UNAVAILABLE',
      retryable: true,
      expected: {
        reasons: [{ source: 'ngrok', code: 'WEBHOOK_URL_NGROK_AUTH', reason: 'bad authtoken' }],
        details: undefined,
      },
    },
    {
      name: '503 storage_unavailable with Retry-After seconds',
      reply: {
        status: 503,
        body: { error: 'storage_unavailable', message: 'Redis is away.' },
        headers: { 'retry-after': '7' },
      },
      code: 'GATEWAY_UNAVAILABLE',
      retryable: true,
      expected: { retryAfterSeconds: 7, status: 503 },
    },
    {
      name: '429 with a Retry-After date',
      reply: {
        status: 429,
        body: { error: 'rate_limited' },
        headers: { 'retry-after': new Date(Date.now() + 30_000).toUTCString() },
      },
      code: 'GATEWAY_RATE_LIMITED',
      retryable: true,
    },
    {
      name: '502 with an HTML body from a proxy',
      reply: { status: 502, body: '<html>Bad Gateway</html>' },
      code: 'GATEWAY_UNAVAILABLE',
      retryable: true,
      expected: { serverError: undefined, serverMessage: undefined },
    },
    {
      name: '500 internal error',
      reply: { status: 500, body: { error: 'internal', message: 'Oops.' } },
      code: 'GATEWAY_SERVER_ERROR',
      retryable: true,
    },
    {
      name: '413 an undocumented 4xx',
      reply: { status: 413, body: { error: 'payload_too_large' } },
      code: 'GATEWAY_REQUEST_REJECTED',
      retryable: false,
    },
  ];

  for (const c of cases) {
    it(`maps ${c.name} to ${c.code}`, async () => {
      gateway.override(() => c.reply);
      const error = await failure(client.register({ deliverTo: 'https://pipeline.example/in' }));
      expect(error.code).toBe(c.code);
      expect(error.retryable).toBe(c.retryable);
      expect(error.status).toBe((c.reply as { status: number }).status);
      expect(error).toMatchObject(c.expected ?? {});
      expectNoToken(error, gateway.token);
    });
  }

  it('turns an HTTP-date Retry-After into seconds from now', async () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const timed = createGatewayClient({ baseUrl: gateway.baseUrl, token: 't0k', now: () => now });
    gateway.override(() => ({
      status: 503,
      body: { error: 'storage_unavailable' },
      headers: { 'retry-after': 'Thu, 01 Jan 2026 00:01:30 GMT' },
    }));
    expect((await failure(timed.status('reg_1'))).retryAfterSeconds).toBe(90);
  });

  it('maps the real unauthorized answer of a wrong token', async () => {
    const wrong = createGatewayClient({ baseUrl: gateway.baseUrl, token: 'not-the-token' });
    const error = await failure(wrong.status('reg_1'));
    expect(error).toMatchObject({ code: 'GATEWAY_UNAUTHORIZED', status: 401 });
    expectNoToken(error, 'not-the-token');
  });

  it('never carries the token, even when the gateway echoes it back', async () => {
    gateway.override((request) => ({
      status: 400,
      body: {
        error: 'invalid_request',
        message: `You sent ${request.headers.authorization}`,
        echo: { header: request.headers.authorization },
        reasons: [{ source: 'x', code: 'y', reason: String(request.headers.authorization) }],
      },
    }));
    const error = await failure(client.register({ deliverTo: 'https://pipeline.example/in' }));
    expect(error.serverMessage).toBe('You sent Bearer [redacted]');
    expectNoToken(error, gateway.token);
  });
});

describe('no usable answer', () => {
  it('times out a gateway that never answers after timeoutMs', async () => {
    gateway.override(() => 'hang');
    const quick = createGatewayClient({
      baseUrl: gateway.baseUrl,
      token: gateway.token,
      timeoutMs: 150,
    });
    const started = Date.now();
    const error = await failure(quick.status('reg_1'));
    expect(error).toMatchObject({ code: 'GATEWAY_TIMEOUT', retryable: true, status: undefined });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(error.message).toContain('150 ms');
    expectNoToken(error, gateway.token);
  });

  it('reports a refused connection as a retryable network error', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const offline = createGatewayClient({
      baseUrl: `http://127.0.0.1:${port}`,
      token: 'sekret-t0k',
    });
    const error = await failure(offline.register({ deliverTo: 'https://pipeline.example/in' }));
    expect(error).toMatchObject({ code: 'GATEWAY_NETWORK', retryable: true });
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.cause).toBeInstanceOf(Error);
    expectNoToken(error, 'sekret-t0k');
  });

  it('stops when the caller aborts', async () => {
    gateway.override(() => 'hang');
    const controller = new AbortController();
    const call = client.status('reg_1', { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect(await failure(call)).toMatchObject({ code: 'GATEWAY_ABORTED', retryable: false });
  });

  it('refuses a success answer that is not the documented shape', async () => {
    gateway.override(() => ({
      status: 201,
      body: { ...viewReply({ id: 'reg_1' }), callback_url: 42 },
    }));
    const error = await failure(client.register({ deliverTo: 'https://pipeline.example/in' }));
    expect(error).toMatchObject({ code: 'GATEWAY_BAD_RESPONSE', status: 201, retryable: false });
    expect(error.message).toContain('callback_url');
    expectNoToken(error, gateway.token);
  });

  it('refuses a success answer that is not JSON', async () => {
    gateway.override(() => ({ status: 200, body: 'OK' }));
    expect((await failure(client.status('reg_1'))).code).toBe('GATEWAY_BAD_RESPONSE');
  });

  it('refuses a registration view with an unknown state', async () => {
    gateway.override(() => ({
      status: 200,
      body: { ...viewReply({ id: 'reg_1', state: 'lost' }) },
    }));
    const error = await failure(client.status('reg_1'));
    expect(error.code).toBe('GATEWAY_BAD_RESPONSE');
    expect(error.message).toContain('state');
  });
});
