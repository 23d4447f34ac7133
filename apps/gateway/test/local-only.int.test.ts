import { Writable } from 'node:stream';
import { startRedis, waitForHttp, type TestRedis } from '@callback-gateway/testing';
import { readCachedResolution } from '@callback-gateway/webhook-url';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig, startGateway, type StartedGateway } from '../src/index.js';

const API_TOKEN = 'test-api-token-0123456789';
// A public address: the outbound policy needs no DNS for it.
const PIPELINE = 'https://93.184.215.14/hooks';
const auth = { authorization: `Bearer ${API_TOKEN}` };

describe('local-only mode (GATEWAY_LOCAL_ONLY)', () => {
  let redis: TestRedis;
  let gateway: StartedGateway | undefined;
  let logs: string[] = [];
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
    logs = [];
  });
  afterAll(async () => {
    await redis.close();
  });

  async function start(env: Record<string, string>) {
    gateway = await startGateway(
      loadGatewayConfig({
        REDIS_URL: redis.url,
        GATEWAY_PORT: '0',
        GATEWAY_API_TOKENS: API_TOKEN,
        LOG_LEVEL: 'info',
        ...env,
      }),
      {
        logDestination: new Writable({
          write(chunk, _encoding, done) {
            logs.push(String(chunk));
            done();
          },
        }),
      },
    );
    await waitForHttp(`${gateway.url}/readyz/ingest`, (status) => status === 200);
    return gateway;
  }

  const register = (url: string) =>
    fetch(`${url}/v1/registrations`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ deliver_to: PIPELINE }),
    });

  it('is off by default: without a public URL source, registrations are refused', async () => {
    const { url } = await start({});
    const response = await register(url);
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: 'webhook_url_unavailable' });
  });

  it('issues registrations flagged local-only, with no callback_url a parser could be given', async () => {
    const { url, port } = await start({ GATEWAY_LOCAL_ONLY: 'true' });
    expect(logs.join('')).toContain('LOCAL-ONLY MODE (GATEWAY_LOCAL_ONLY=true)');

    const response = await register(url);
    expect(response.status).toBe(201);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ callback_url: null, local_only: true });
    expect(body['warning']).toMatch(/^LOCAL-ONLY MODE/);
    const local = String(body['local_callback_url']);
    expect(local).toMatch(
      new RegExp(`^http://127\\.0\\.0\\.1:${port}/v1/callbacks/llamaparse/[A-Za-z0-9_-]+$`),
    );
    // The loopback URL appears only under local_callback_url.
    const { local_callback_url: _local, ...rest } = body;
    expect(JSON.stringify(rest)).not.toContain('127.0.0.1');

    // Callbacks from this machine are taken as usual.
    const callback = await fetch(local, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event_id: 'evt-1', event_type: 'parse.success', data: {} }),
    });
    expect(callback.status).toBe(202);

    // Nothing reached the resolver's cache, where the worker finds the URL it submits with.
    const store = new Redis(redis.url);
    try {
      expect(await readCachedResolution(store)).toBeUndefined();
    } finally {
      store.disconnect();
    }
    const view = (await (await fetch(`${url}/v1/webhook-url`)).json()) as Record<string, unknown>;
    expect(view).toMatchObject({ base_url: null, local_only: true });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain('local-only mode');
  });

  it('refuses parse submissions: no document goes to a parser that could not call back', async () => {
    const { url } = await start({ GATEWAY_LOCAL_ONLY: 'true' });
    const response = await fetch(`${url}/v1/parse`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        source_url: 'https://example.com/doc.pdf',
        deliver_to: PIPELINE,
      }),
    });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({
      error: 'webhook_url_unavailable',
      code: 'LOCAL_ONLY_MODE',
    });
  });
});
