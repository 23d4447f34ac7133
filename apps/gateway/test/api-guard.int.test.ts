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

  it('ignores X-Forwarded-For, and still lets valid tokens through after a flood from the shared address', async () => {
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
      payload: { token: API_TOKEN },
    });
    expect(login.statusCode).toBe(200);
    expect(gateway.logs.join('')).toContain('set GATEWAY_TRUSTED_PROXIES');
  });
});
