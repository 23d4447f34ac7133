import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_TOKEN,
  PIPELINE,
  PUBLIC_BASE,
  register,
  startGateway,
  type TestGateway,
} from './harness.js';

const auth = { authorization: `Bearer ${API_TOKEN}` };

describe('registrations API', () => {
  let redis: TestRedis;
  let gateway: TestGateway;
  beforeAll(async () => {
    redis = await startRedis();
    gateway = await startGateway({ redis });
  });
  afterAll(async () => {
    await gateway.close();
    await redis.close();
  });

  it('issues a unique callback URL under the verified public base, with its secrets, once', async () => {
    const first = await register(gateway, { metadata: { document: 'a.pdf' } });
    const second = await register(gateway);
    expect(first.callback_url).toMatch(
      new RegExp(`^${PUBLIC_BASE}/v1/callbacks/llamaparse/[A-Za-z0-9_-]{43}$`),
    );
    expect(first.callback_url.length).toBeLessThan(200);
    expect(second.callback_url).not.toBe(first.callback_url);
    expect(first.delivery_secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(first.signing_secret.length).toBeGreaterThanOrEqual(32);
    expect(first).toMatchObject({ state: 'waiting', source: 'llamaparse', deliver_to: PIPELINE });

    const status = await gateway.app.inject({
      url: `/v1/registrations/${first.id}`,
      headers: auth,
    });
    expect(status.statusCode).toBe(200);
    expect(status.json()).toMatchObject({
      id: first.id,
      state: 'waiting',
      metadata: { document: 'a.pdf' },
      callbacks_received: 0,
    });
    // Secrets are shown only in the creation reply.
    expect(status.body).not.toContain(first.signing_secret);
    expect(status.body).not.toContain(first.delivery_secret);
    expect(status.body).not.toContain(first.callback_url.split('/').pop() ?? 'x');
    const created = gateway.audit.find(
      (event) =>
        event.type === 'registration.created' && event.correlation.registration_id === first.id,
    );
    expect(created?.actor).toEqual({ kind: 'api_client', id: 'token#1' });
  });

  it('keeps a delivery secret the pipeline brings', async () => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    expect((await register(gateway, { delivery_secret: secret })).delivery_secret).toBe(secret);
    const bad = await gateway.app.inject({
      method: 'POST',
      url: '/v1/registrations',
      headers: auth,
      payload: { deliver_to: PIPELINE, delivery_secret: 'whsec_c2hvcnQ=' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toContain('whsec_');
  });

  it('refuses requests without a valid bearer token', async () => {
    for (const headers of [
      {},
      { authorization: 'Bearer wrong-token-0123456789' },
      { authorization: API_TOKEN },
    ]) {
      const response = await gateway.app.inject({
        method: 'POST',
        url: '/v1/registrations',
        headers,
        payload: { deliver_to: PIPELINE },
      });
      expect(response.statusCode).toBe(401);
      expect(response.json().error).toBe('unauthorized');
      expect(response.headers['www-authenticate']).toContain('Bearer');
    }
    const status = await gateway.app.inject({
      url: '/v1/registrations/reg_00000000000000000000000000000000',
    });
    expect(status.statusCode).toBe(401);
  });

  it('says what is wrong with a malformed request', async () => {
    const response = await gateway.app.inject({
      method: 'POST',
      url: '/v1/registrations',
      headers: auth,
      payload: { deliver_to: PIPELINE, expect_callback_within_s: -1, surprise: true },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toBe('invalid_request');
    expect(response.json().message).toMatch(/expect_callback_within_s|surprise/);
  });

  it('refuses private and loopback destinations with the reason and how to allow them', async () => {
    for (const deliverTo of [
      'http://127.0.0.1:9000/hooks',
      'https://internal.example.com/x',
      'http://[::1]/',
    ]) {
      const response = await gateway.app.inject({
        method: 'POST',
        url: '/v1/registrations',
        headers: auth,
        payload: { deliver_to: deliverTo },
      });
      expect(response.statusCode, deliverTo).toBe(400);
      expect(response.json()).toMatchObject({
        error: 'destination_refused',
        code: 'OUTBOUND_PRIVATE_ADDRESS',
      });
      expect(response.json().message).toContain('OUTBOUND_ALLOW');
    }
  });

  it('attaches the parser job id, and 404s an unknown registration', async () => {
    const registration = await register(gateway);
    const patched = await gateway.app.inject({
      method: 'PATCH',
      url: `/v1/registrations/${registration.id}`,
      headers: auth,
      payload: { parse_job_id: 'job-42' },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json().parse_job_id).toBe('job-42');
    const unknown = await gateway.app.inject({
      method: 'PATCH',
      url: '/v1/registrations/reg_00000000000000000000000000000000',
      headers: auth,
      payload: { parse_job_id: 'job-42' },
    });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toBe('not_found');
  });

  it('records which LlamaCloud API a job belongs to, when the pipeline says, and only v1 or v2', async () => {
    const created = await gateway.app.inject({
      method: 'POST',
      url: '/v1/registrations',
      headers: auth,
      payload: { deliver_to: PIPELINE, parse_job_id: 'job-v1', parse_api: 'v1' },
    });
    const unsaid = await register(gateway);
    const attached = await gateway.app.inject({
      method: 'PATCH',
      url: `/v1/registrations/${unsaid.id}`,
      headers: auth,
      payload: { parse_job_id: 'job-v2', parse_api: 'v2' },
    });
    const wrong = await gateway.app.inject({
      method: 'PATCH',
      url: `/v1/registrations/${unsaid.id}`,
      headers: auth,
      payload: { parse_job_id: 'job-v3', parse_api: 'v3' },
    });

    expect(created.json()).toMatchObject({ parse_job_id: 'job-v1', parse_api: 'v1' });
    expect(unsaid).toMatchObject({ parse_api: null });
    expect(attached.json()).toMatchObject({ parse_job_id: 'job-v2', parse_api: 'v2' });
    expect(wrong.statusCode).toBe(400);
    expect(
      gateway.audit.filter((event) => event.type === 'registration.updated').at(-1),
    ).toMatchObject({
      data: { fields: ['parse_job_id', 'parse_api'] },
    });
  });

  it('documents its API as OpenAPI', async () => {
    const response = await gateway.app.inject({ url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    const paths = Object.keys(response.json().paths);
    expect(paths).toEqual(
      expect.arrayContaining(['/v1/registrations', '/v1/registrations/{id}', '/v1/webhook-url']),
    );
  });
});

describe('registrations without a public URL', () => {
  let redis: TestRedis;
  let gateway: TestGateway;
  beforeAll(async () => {
    redis = await startRedis();
    gateway = await startGateway({ redis, publicBaseUrl: null });
  });
  afterAll(async () => {
    await gateway.close();
    await redis.close();
  });

  it('answers 503 webhook_url_unavailable with the reasons, never a localhost URL', async () => {
    const response = await gateway.app.inject({
      method: 'POST',
      url: '/v1/registrations',
      headers: auth,
      payload: { deliver_to: PIPELINE },
    });
    expect(response.statusCode).toBe(503);
    const body = response.json();
    expect(body.error).toBe('webhook_url_unavailable');
    expect(body.reasons).toEqual([
      expect.objectContaining({ source: 'cloud_config', code: 'WEBHOOK_URL_NOT_CONFIGURED' }),
    ]);
    expect(body.callback_url).toBeUndefined();
    expect(response.body).not.toMatch(/https?:\/\/(localhost|127\.0\.0\.1|\[::1\])/);
  });
});
