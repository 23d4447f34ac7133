import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, callbackPath, register, startGateway, type TestGateway } from './harness.js';

describe("the dashboard's data routes", () => {
  let redis: TestRedis;
  let gateway: TestGateway;
  beforeAll(async () => {
    redis = await startRedis();
    gateway = await startGateway({ redis });
  });
  afterAll(async () => {
    await gateway?.close();
    await redis?.close();
  });
  const get = async (url: string) => {
    const response = await gateway.app.inject({
      url,
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    expect(response.statusCode, response.body).toBe(200);
    return response.json();
  };

  it('finds a registration by its parser job id and by its callback, and tells its story', async () => {
    const registration = await register(gateway, { parse_job_id: 'job-dash-42' });
    const attached = await register(gateway);
    await gateway.app.inject({
      method: 'PATCH',
      url: `/v1/registrations/${attached.id}`,
      headers: { authorization: `Bearer ${API_TOKEN}` },
      payload: { parse_job_id: 'job-dash-43' },
    });
    const callback = await gateway.app.inject({
      method: 'POST',
      url: callbackPath(registration.callback_url),
      headers: { 'content-type': 'application/json' },
      payload: { event_id: 'e-1', event_type: 'parse.success', data: { job_id: 'job-dash-42' } },
    });
    expect(callback.statusCode).toBe(202);
    const callbackId = callback.json().callback_id as string;

    expect((await get('/v1/dashboard/search?q=job-dash-42')).hits).toEqual([
      { kind: 'parse_job', id: 'job-dash-42', registration_id: registration.id },
    ]);
    expect((await get('/v1/dashboard/search?q=job-dash-43')).hits).toEqual([
      { kind: 'parse_job', id: 'job-dash-43', registration_id: attached.id },
    ]);
    expect((await get(`/v1/dashboard/search?q=${callbackId}`)).hits).toEqual([
      { kind: 'delivery', id: callbackId, registration_id: registration.id },
    ]);
    expect((await get('/v1/dashboard/search?q=nothing-here')).hits).toEqual([]);

    const story = await get(`/v1/dashboard/registrations/${registration.id}`);
    expect(story.registration).toMatchObject({
      id: registration.id,
      destination: 'https://pipeline.example.com/hooks',
    });
    expect(story.parse_job.id).toBe('job-dash-42');
  });

  it('counts received and rejected callbacks by minute, by reason', async () => {
    const registration = await register(gateway);
    await gateway.app.inject({
      method: 'POST',
      url: '/v1/callbacks/llamaparse/' + 'x'.repeat(43),
      headers: { 'content-type': 'application/json' },
      payload: {},
    });
    await gateway.app.inject({
      method: 'POST',
      url: callbackPath(registration.callback_url),
      headers: { 'content-type': 'application/json' },
      payload: '[1]',
    });
    // The history reaches Redis within a second.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const summary = await get('/v1/dashboard/summary');
    expect(summary.last_hour.rejected).toMatchObject({ not_found: 1, malformed_callback: 1 });
    expect(summary.last_hour.received).toBeGreaterThanOrEqual(1);
    const history = await get('/v1/dashboard/history?hours=1');
    expect(history.at).toHaveLength(61);
    expect(history.rejected.reduce((sum: number, n: number | null) => sum + (n ?? 0), 0)).toBe(2);
  });

  it('serves the page and its files under the CSP, and nothing else from its folder', async () => {
    const page = await gateway.app.inject({ url: '/dashboard' });
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.body).toContain('/dashboard/assets/uPlot.iife.min.js');
    const uplot = await gateway.app.inject({ url: '/dashboard/assets/uPlot.iife.min.js' });
    expect(uplot.statusCode).toBe(200);
    expect(uplot.headers['content-type']).toContain('javascript');
    expect(
      (await gateway.app.inject({ url: '/dashboard/assets/..%2Findex.html' })).statusCode,
    ).toBe(404);
    const runbook = await gateway.app.inject({ url: '/dashboard/runbook' });
    expect(runbook.body).toContain('id="cbgwprocessnotscraped"');
  });
});

describe('the status banner in local-only mode', () => {
  it('does not report a missing public URL when the gateway issues loopback URLs on purpose', async () => {
    const redis = await startRedis();
    const summary = async (options: { localOnlyBaseUrl?: string }) => {
      const gateway = await startGateway({ redis, publicBaseUrl: null, ...options });
      try {
        const response = await gateway.app.inject({
          url: '/v1/dashboard/summary',
          headers: { authorization: `Bearer ${API_TOKEN}` },
        });
        return response.json<{ status: { conditions: { id: string }[] } }>();
      } finally {
        await gateway.close();
      }
    };
    try {
      const ids = (body: { status: { conditions: { id: string }[] } }) =>
        body.status.conditions.map((condition) => condition.id);
      expect(ids(await summary({}))).toContain('public_url_unavailable');
      expect(ids(await summary({ localOnlyBaseUrl: 'http://127.0.0.1:8080' }))).not.toContain(
        'public_url_unavailable',
      );
    } finally {
      await redis.close();
    }
  });
});
