import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, PIPELINE, startGateway, type TestGateway } from './harness.js';

const WRONG = 'Bearer wrong-token-0123456789';
const GOOD = `Bearer ${API_TOKEN}`;

/** Every bearer-authenticated route that takes a body, with a body it would refuse (400). */
const BAD_BODIES = [
  { method: 'POST', url: '/v1/registrations', payload: { deliver_to: 7, surprise: true } },
  { method: 'PATCH', url: '/v1/registrations/reg_x', payload: { parse_job_id: '' } },
  { method: 'POST', url: '/v1/deliveries/replay', payload: { limit: 'all' } },
  { method: 'POST', url: '/v1/parse', payload: { deliver_to: PIPELINE, api: 'v9' } },
  { method: 'POST', url: '/v1/registrations', payload: '{"deliver_to": ' },
] as const;

describe('the API guard behind a trusted proxy', () => {
  let redis: TestRedis;
  let gateway: TestGateway;
  beforeAll(async () => {
    redis = await startRedis();
    gateway = await startGateway({ redis, trustedProxies: ['127.0.0.1'] });
  });
  afterAll(async () => {
    await gateway.close();
    await redis.close();
  });

  const metric = async (name: string) => {
    const text = (await gateway.app.inject({ url: '/metrics' })).body;
    return Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  };
  const login = (headers: Record<string, string> = {}) =>
    gateway.app.inject({
      method: 'POST',
      url: '/dashboard/login',
      headers: { 'content-type': 'application/json', ...headers },
      payload: { token: API_TOKEN },
    });
  const sessionOf = async () => String((await login()).headers['set-cookie']).split(';')[0] ?? '';

  it('checks the token before the body: a wrong token with a bad body gets 401, a good one 400', async () => {
    for (const [index, request] of BAD_BODIES.entries()) {
      const send = (authorization: string) =>
        gateway.app.inject({
          method: request.method,
          url: request.url,
          headers: {
            authorization,
            'content-type': 'application/json',
            'x-forwarded-for': `192.0.2.${index + 1}`,
          },
          payload: request.payload,
        });
      const wrong = await send(WRONG);
      expect([request.url, wrong.statusCode, wrong.json().error]).toEqual([
        request.url,
        401,
        'unauthorized',
      ]);
      const right = await send(GOOD);
      expect([request.url, right.statusCode]).toEqual([request.url, 400]);
    }
  });

  it('slows down only the client that fails: 429 after 20 failures, never for a valid token', async () => {
    const attempt = (authorization: string, client: string) =>
      gateway.app.inject({
        method: 'POST',
        url: '/v1/registrations',
        headers: { authorization, 'x-forwarded-for': client },
        payload: { deliver_to: PIPELINE },
      });
    const failuresBefore = await metric('cbgw_auth_failures_total');
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await attempt(WRONG, '203.0.113.7')).statusCode);
    expect(statuses).toEqual([...Array<number>(20).fill(401), ...Array<number>(5).fill(429)]);
    const limited = await attempt(WRONG, '203.0.113.7');
    expect(limited.json().error).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);

    // A valid token passes from the limited client too; another client is not limited at all.
    expect((await attempt(GOOD, '203.0.113.7')).statusCode).toBe(201);
    expect((await attempt(GOOD, '198.51.100.9')).statusCode).toBe(201);
    expect((await attempt(WRONG, '198.51.100.9')).statusCode).toBe(401);
    expect((await login({ 'x-forwarded-for': '203.0.113.7' })).statusCode).toBe(200);
    // The proxy's own address is not the one counted.
    expect((await attempt(WRONG, '127.0.0.1')).statusCode).toBe(401);

    expect((await metric('cbgw_auth_failures_total')) - failuresBefore).toBe(28);
    expect(await metric('cbgw_auth_rate_limited_total')).toBe(6);
    const warnings = gateway.logs.filter((line) => line.includes('failed-auth limit reached'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('by 203.0.113.7');
  });

  it('marks the session cookie Secure when the browser came over https through the proxy', async () => {
    const overHttps = await login({ 'x-forwarded-proto': 'https' });
    expect(overHttps.headers['set-cookie']).toMatch(
      /^cbgw_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Secure; Max-Age=43200$/,
    );
    const overHttp = await login();
    expect(overHttp.headers['set-cookie']).not.toContain('Secure');
    const logout = await gateway.app.inject({
      method: 'POST',
      url: '/dashboard/logout',
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(logout.headers['set-cookie']).toBe(
      'cbgw_session=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0',
    );
  });

  it('changes state with the session cookie only from its own origin, and bearer tokens from anywhere', async () => {
    const cookie = await sessionOf();
    // An unknown delivery: 404 means the request got past the guard (and replayed nothing).
    const replay = (headers: Record<string, string>) =>
      gateway.app.inject({ method: 'POST', url: '/v1/deliveries/dlv_unknown/replay', headers });
    const own = 'http://localhost';
    const refusedBefore = await metric('cbgw_cross_origin_refusals_total');

    for (const headers of [
      { cookie, origin: 'http://localhost:8081' } as Record<string, string>,
      { cookie, origin: 'http://127.0.0.1' },
      { cookie, origin: 'null' },
      { cookie, 'sec-fetch-site': 'same-site' },
      { cookie },
    ]) {
      const refused = await replay(headers);
      expect([headers, refused.statusCode]).toEqual([headers, 403]);
      expect(refused.json()).toMatchObject({ error: 'cross_origin_refused' });
      expect(refused.json().message).toContain(`${own}/dashboard`);
    }
    // bull-board's actions too.
    const pause = await gateway.app.inject({
      method: 'PUT',
      url: '/dashboard/queues/api/queues/pause',
      headers: { cookie, origin: 'http://localhost:8081' },
    });
    expect(pause.statusCode).toBe(403);
    expect(await gateway.parseQueue.isPaused()).toBe(false);
    expect((await metric('cbgw_cross_origin_refusals_total')) - refusedBefore).toBe(6);
    expect(gateway.logs.some((line) => line.includes('from http://localhost:8081'))).toBe(true);

    expect((await replay({ cookie, origin: own })).statusCode).toBe(404);
    expect((await replay({ cookie, 'sec-fetch-site': 'same-origin' })).statusCode).toBe(404);
    // The origin the browser saw, through the proxy.
    expect(
      (
        await replay({
          cookie,
          origin: 'https://gateway.example.com',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'gateway.example.com',
        })
      ).statusCode,
    ).toBe(404);
    // Reading needs no origin; a bearer token is never sent by a browser on its own.
    const summary = await gateway.app.inject({
      url: '/v1/dashboard/summary',
      headers: { cookie, origin: 'http://localhost:8081' },
    });
    expect(summary.statusCode).toBe(200);
    expect((await replay({ authorization: GOOD, origin: 'http://evil.example' })).statusCode).toBe(
      404,
    );
  });

  it('gives the dashboard and bull-board a Content-Security-Policy that forbids framing', async () => {
    const dashboard = await gateway.app.inject({ url: '/dashboard' });
    expect(dashboard.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    for (const url of ['/dashboard/queues', '/dashboard/queues/api/queues']) {
      const reply = await gateway.app.inject({ url, headers: { authorization: GOOD } });
      expect([url, reply.statusCode]).toEqual([url, 200]);
      const policy = String(reply.headers['content-security-policy']);
      expect(policy).toContain("frame-ancestors 'none'");
      expect(policy).toContain("script-src 'self';");
    }
  });
});

describe('the API guard with no trusted proxy', () => {
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

  it('ignores X-Forwarded-* headers, and still lets valid tokens through after a flood from the shared address', async () => {
    const attempt = (authorization: string, client: string) =>
      gateway.app.inject({
        method: 'POST',
        url: '/v1/registrations',
        headers: { authorization, 'x-forwarded-for': client },
        payload: { deliver_to: PIPELINE },
      });
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await attempt(WRONG, '203.0.113.7')).statusCode);
    expect(statuses).toEqual([...Array<number>(20).fill(401), ...Array<number>(5).fill(429)]);
    // Every client shares the peer's address here: the next one's wrong token is limited too...
    expect((await attempt(WRONG, '198.51.100.9')).statusCode).toBe(429);
    // ...but valid tokens and the dashboard's login are not.
    expect((await attempt(GOOD, '198.51.100.9')).statusCode).toBe(201);
    const login = await gateway.app.inject({
      method: 'POST',
      url: '/dashboard/login',
      headers: { 'x-forwarded-proto': 'https' },
      payload: { token: API_TOKEN },
    });
    expect(login.statusCode).toBe(200);
    expect(login.headers['set-cookie']).not.toContain('Secure');
    expect(gateway.logs.join('')).toContain('set GATEWAY_TRUSTED_PROXIES');
  });
});
