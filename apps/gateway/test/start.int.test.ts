import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { startRedis, waitForHttp, type TestRedis } from '@callback-gateway/testing';
import { readCachedResolution } from '@callback-gateway/webhook-url';
import { fakeNgrok, staticLookup } from '@callback-gateway/webhook-url/testing';
import { Redis } from 'ioredis';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { loadGatewayConfig, startGateway, type StartedGateway } from '../src/index.js';

const API_TOKEN = 'test-api-token-0123456789';
const TUNNEL_URL = 'https://start-test.ngrok-free.app';

describe('startGateway, in-process with injected dependencies', () => {
  let redis: TestRedis | undefined;
  let gateway: StartedGateway | undefined;
  let edge: Agent | undefined;
  afterEach(async () => {
    await gateway?.close();
    await edge?.close();
    await redis?.close();
    [gateway, edge, redis] = [undefined, undefined, undefined];
  });

  it('opens its tunnel through the injected ngrok forward and verifies the URL by a probe round trip', async () => {
    redis = await startRedis();
    const ngrok = fakeNgrok(TUNNEL_URL);
    const at: { port?: number } = {};
    // ngrok's edge, as the probe sees it: every connection to the tunnel host reaches this gateway.
    edge = new Agent({
      connect: (_options, callback) => {
        const socket = connect(at.port ?? 0, '127.0.0.1');
        socket.once('connect', () => callback(null, socket));
        socket.once('error', (error) => callback(error, null));
      },
    });
    const logs: string[] = [];
    gateway = await startGateway(
      loadGatewayConfig({
        REDIS_URL: redis.url,
        GATEWAY_PORT: '0',
        GATEWAY_API_TOKENS: API_TOKEN,
        NGROK_AUTHTOKEN: 'fake-ngrok-authtoken-0123456789',
        LOG_LEVEL: 'info',
      }),
      {
        webhookUrl: {
          ngrok: { forward: ngrok.forward },
          lookup: staticLookup({ 'start-test.ngrok-free.app': ['93.184.215.14'] }),
          dispatcher: edge,
        },
        logDestination: new Writable({
          write(chunk, _encoding, done) {
            logs.push(String(chunk));
            done();
          },
        }),
      },
    );
    at.port = gateway.port;
    expect(gateway.port).toBeGreaterThan(0);
    await waitForHttp(`${gateway.url}/readyz`, (status) => status === 200, 15_000);

    const view = (await (
      await fetch(`${gateway.url}/v1/webhook-url`, {
        headers: { authorization: `Bearer ${API_TOKEN}` },
      })
    ).json()) as Record<string, unknown>;
    expect(view).toMatchObject({
      base_url: TUNNEL_URL,
      source: 'ngrok',
      verified_by: 'probe',
      tunnel: 'up',
    });
    // The tunnel forwards to the port the gateway really listens on, not to GATEWAY_PORT=0.
    expect(ngrok.calls).toHaveLength(1);
    expect(ngrok.calls[0]?.addr).toBe(`127.0.0.1:${gateway.port}`);
    // Log lines went to the injected destination, with the authtoken masked.
    expect(logs.join('')).toContain(`public callback URL: ${TUNNEL_URL}`);
    expect(logs.join('')).not.toContain('fake-ngrok-authtoken-0123456789');

    // close() is idempotent: the second call shares the first.
    await Promise.all([gateway.close(), gateway.close()]);
    expect(ngrok.listeners[0]?.closed).toBe(true);
    await expect(fetch(`${gateway.url}/healthz`)).rejects.toThrow();
  });

  it('verifies the new URL of a reconnected tunnel at once: ready again, and cached for the worker, before any registration', async () => {
    redis = await startRedis();
    const ngrok = fakeNgrok(TUNNEL_URL);
    const at: { port?: number } = {};
    edge = new Agent({
      connect: (_options, callback) => {
        const socket = connect(at.port ?? 0, '127.0.0.1');
        socket.once('connect', () => callback(null, socket));
        socket.once('error', (error) => callback(error, null));
      },
    });
    gateway = await startGateway(
      loadGatewayConfig({
        REDIS_URL: redis.url,
        GATEWAY_PORT: '0',
        GATEWAY_API_TOKENS: API_TOKEN,
        NGROK_AUTHTOKEN: 'fake-ngrok-authtoken-0123456789',
        LOG_LEVEL: 'silent',
      }),
      {
        webhookUrl: {
          ngrok: { forward: ngrok.forward },
          lookup: staticLookup(() => ['93.184.215.14']),
          dispatcher: edge,
        },
      },
    );
    at.port = gateway.port;
    await waitForHttp(`${gateway.url}/readyz`, (status) => status === 200, 15_000);
    const store = new Redis(redis.url);
    try {
      expect((await readCachedResolution(store))?.baseUrl).toBe(TUNNEL_URL);
      ngrok.emitStatus('closed');
      await waitForHttp(`${gateway.url}/readyz`, (status) => status === 503, 5_000);
      ngrok.setUrl('https://start-test-2.ngrok-free.app');
      ngrok.emitStatus('connected');
      await waitForHttp(`${gateway.url}/readyz`, (status) => status === 200, 5_000);
      expect((await readCachedResolution(store))?.baseUrl).toBe(
        'https://start-test-2.ngrok-free.app',
      );
    } finally {
      store.disconnect();
    }
  });

  it('holds a callback for GATEWAY_INTAKE_LINGER_MS so others can share its write to Redis', async () => {
    redis = await startRedis();
    const started = async (linger: string) => {
      const running = await startGateway(
        loadGatewayConfig({
          REDIS_URL: redis?.url,
          GATEWAY_PORT: '0',
          GATEWAY_API_TOKENS: API_TOKEN,
          PUBLIC_BASE_URL: 'https://hooks.example.com',
          WEBHOOK_URL_VERIFY: 'syntax',
          GATEWAY_INTAKE_LINGER_MS: linger,
          OUTBOUND_ALLOW: '127.0.0.1',
          LOG_LEVEL: 'silent',
        }),
        {},
      );
      await waitForHttp(`${running.url}/readyz`, (status) => status === 200, 15_000);
      return running;
    };
    /** Milliseconds until the 202 of a callback to a fresh registration. */
    const ackTime = async (running: StartedGateway) => {
      const registration = (await (
        await fetch(`${running.url}/v1/registrations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ deliver_to: 'http://127.0.0.1:9/hooks' }),
        })
      ).json()) as { callback_url: string };
      const path = new URL(registration.callback_url).pathname;
      const before = performance.now();
      const response = await fetch(`${running.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ event_id: `e-${Math.random()}`, event_type: 'parse.running' }),
      });
      expect(response.status).toBe(202);
      return performance.now() - before;
    };
    gateway = await started('100');
    expect(await ackTime(gateway)).toBeGreaterThanOrEqual(95);
    await gateway.close();
    gateway = await started('0');
    const times = [await ackTime(gateway), await ackTime(gateway), await ackTime(gateway)];
    expect(Math.min(...times)).toBeLessThan(95);
  });
});
