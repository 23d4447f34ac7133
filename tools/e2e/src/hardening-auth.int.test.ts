import { describe, expect, it } from 'vitest';
import { API_TOKEN, postCallback, until, useE2eWorld, type E2eWorld } from './stack.js';

const GOOD = `Bearer ${API_TOKEN}`;
const WRONG = 'Bearer wrong-token-0123456789abcdef';
const ATTACKER = '203.0.113.7';
const PIPELINE_CLIENT = '198.51.100.9';

/** Sends `request` to the gateway as if through a proxy on loopback that says who the client is. */
function send(
  world: E2eWorld,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<Response> {
  const headers = { ...init.headers };
  if (init.body !== undefined) headers['content-type'] ??= 'application/json';
  return fetch(`${world.stack.gatewayUrl}${path}`, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body !== undefined && {
      body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
    }),
  });
}

/** Registration attempts with `authorization`, from `client` (X-Forwarded-For). */
async function attemptRegistration(world: E2eWorld, authorization: string, client: string) {
  return send(world, '/v1/registrations', {
    method: 'POST',
    headers: { authorization, 'x-forwarded-for': client },
    body: { deliver_to: world.pipeline.url('/never') },
  });
}

/** The statuses of 25 registrations with a wrong token from `client`. */
async function flood(world: E2eWorld, client: string): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < 25; i++)
    statuses.push((await attemptRegistration(world, WRONG, client)).status);
  return statuses;
}

const FLOODED = [...Array<number>(20).fill(401), ...Array<number>(5).fill(429)];

async function login(world: E2eWorld, headers: Record<string, string> = {}) {
  return send(world, '/dashboard/login', { method: 'POST', headers, body: { token: API_TOKEN } });
}

async function metric(world: E2eWorld, name: string): Promise<number> {
  const text = await (await fetch(`${world.stack.gatewayUrl}/metrics`)).text();
  return Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
}

describe('the API and dashboard behind a trusted reverse proxy (GATEWAY_TRUSTED_PROXIES)', () => {
  const world = useE2eWorld({ env: { GATEWAY_TRUSTED_PROXIES: '127.0.0.1' } });

  it('slows down the client that guesses tokens, and never refuses a valid token', async () => {
    expect(await flood(world, ATTACKER)).toEqual(FLOODED);
    const limited = await attemptRegistration(world, WRONG, ATTACKER);
    expect(limited.status).toBe(429);
    expect(((await limited.json()) as { error: string }).error).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);

    expect((await attemptRegistration(world, GOOD, PIPELINE_CLIENT)).status).toBe(201);
    expect((await attemptRegistration(world, GOOD, ATTACKER)).status).toBe(201);
    expect((await login(world, { 'x-forwarded-for': ATTACKER })).status).toBe(200);
    // Another client's mistakes are its own: counted from zero.
    expect((await attemptRegistration(world, WRONG, PIPELINE_CLIENT)).status).toBe(401);

    expect(await metric(world, 'cbgw_auth_rate_limited_total')).toBe(6);
    expect(world.stack.output().join('\n')).toContain(`failed-auth limit reached by ${ATTACKER}`);
  });

  it('checks the token before the body: a wrong token with a bad body gets 401, not 400', async () => {
    const bad = [
      { path: '/v1/registrations', method: 'POST', body: { deliver_to: 7, surprise: true } },
      { path: '/v1/registrations', method: 'POST', body: '{"deliver_to": ' },
      { path: '/v1/registrations/reg_x', method: 'PATCH', body: { parse_job_id: '' } },
      { path: '/v1/deliveries/replay', method: 'POST', body: { limit: 'all' } },
      { path: '/v1/parse', method: 'POST', body: { deliver_to: 'x', api: 'v9' } },
    ];
    for (const [index, request] of bad.entries()) {
      const client = `192.0.2.${index + 1}`;
      const wrong = await send(world, request.path, {
        ...request,
        headers: { authorization: WRONG, 'x-forwarded-for': client },
      });
      expect([request, wrong.status]).toEqual([request, 401]);
      expect(((await wrong.json()) as { error: string }).error).toBe('unauthorized');
      const right = await send(world, request.path, {
        ...request,
        headers: { authorization: GOOD, 'x-forwarded-for': client },
      });
      expect([request, right.status]).toEqual([request, 400]);
    }
  });

  it('makes the session cookie Secure when the browser came over https', async () => {
    const overHttps = await login(world, { 'x-forwarded-proto': 'https' });
    expect(overHttps.headers.get('set-cookie')).toMatch(
      /^cbgw_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Secure; Max-Age=\d+$/,
    );
    const overHttp = await login(world);
    expect(overHttp.headers.get('set-cookie')).not.toContain('Secure');
  });

  it('replays a dead letter with the session cookie only from its own origin', async () => {
    let healthy = false;
    world.pipeline.on('/dead', () => ({ status: healthy ? 200 : 500 }));
    const registration = await world.register('/dead');
    await postCallback(world.stack, registration.callbackUrl, {
      event_id: 'evt-cross-origin',
      event_type: 'parse.success',
      data: { job_id: 'job-cross-origin' },
    });
    await until(
      async () => (await world.client().status(registration.id)).state === 'dead_lettered',
    );
    const deliveryId = (await world.client().status(registration.id)).deliveries[0]?.id ?? '';
    const attempts = world.pipeline.received.filter((path) => path === '/dead').length;
    healthy = true;

    const cookie = (await login(world)).headers.get('set-cookie')?.split(';')[0] ?? '';
    const replay = (headers: Record<string, string>) =>
      send(world, `/v1/deliveries/${deliveryId}/replay`, {
        method: 'POST',
        headers: { cookie, ...headers },
      });
    // A page on another port of the same host: same site, so a browser sends the cookie.
    for (const headers of [
      { origin: 'http://127.0.0.1:1' } as Record<string, string>,
      { 'sec-fetch-site': 'same-site' },
      {},
    ]) {
      const refused = await replay(headers);
      expect([headers, refused.status]).toEqual([headers, 403]);
      expect(await refused.json()).toMatchObject({ error: 'cross_origin_refused' });
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await world.client().status(registration.id)).deliveries[0]?.state).toBe(
      'dead_lettered',
    );
    expect(world.pipeline.received.filter((path) => path === '/dead')).toHaveLength(attempts);
    expect(await metric(world, 'cbgw_cross_origin_refusals_total')).toBe(3);

    // From the dashboard itself: its origin as the browser saw it.
    expect((await replay({ origin: world.stack.gatewayUrl })).status).toBe(202);
    await until(() => world.pipeline.receipts.some((receipt) => receipt.path === '/dead'));
    await until(async () => (await world.client().status(registration.id)).state === 'delivered');
    // ...or through the proxy, at its public https origin.
    const throughProxy = await replay({
      origin: 'https://gateway.example.com',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'gateway.example.com',
    });
    expect(throughProxy.status).toBe(202);
  });

  it('gives /dashboard and bull-board a Content-Security-Policy that forbids framing', async () => {
    const dashboard = await send(world, '/dashboard');
    expect(dashboard.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const queues = await send(world, '/dashboard/queues', { headers: { authorization: GOOD } });
    expect(queues.status).toBe(200);
    const policy = queues.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).toContain("script-src 'self';");
  });
});

describe('the API with no trusted proxy (the default)', () => {
  const world = useE2eWorld();

  it('still lets a valid token and the dashboard login through after a flood from the shared address', async () => {
    // X-Forwarded-For is not trusted: every request counts for the peer, 127.0.0.1.
    expect(await flood(world, ATTACKER)).toEqual(FLOODED);
    expect((await attemptRegistration(world, WRONG, PIPELINE_CLIENT)).status).toBe(429);
    expect((await attemptRegistration(world, GOOD, PIPELINE_CLIENT)).status).toBe(201);
    const session = await login(world, { 'x-forwarded-proto': 'https' });
    expect(session.status).toBe(200);
    expect(session.headers.get('set-cookie')).not.toContain('Secure');
    expect(world.stack.output().join('\n')).toContain('set GATEWAY_TRUSTED_PROXIES');
  });
});
