import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createDeliveryBatches,
  createDeliveryStore,
  parseCallbackHeader,
} from '@callback-gateway/store';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_TOKEN, callbackPath, register, startGateway, type TestGateway } from './harness.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

describe('the on-call dashboard in headless Chromium', () => {
  let redis: TestRedis;
  let gateway: TestGateway;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `Chromium is missing at ${CHROMIUM}: install the Debian "chromium" package (.ci/run does)`,
      );
    }
    redis = await startRedis();
    gateway = await startGateway({ redis });
    base = await gateway.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await gateway?.close();
    await redis?.close();
  });

  /** A stored callback whose delivery the worker gave up on. */
  const deadLetter = async (eventId: string) => {
    const registration = await register(gateway);
    const response = await gateway.app.inject({
      method: 'POST',
      url: callbackPath(registration.callback_url),
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({
        event_id: eventId,
        event_type: 'parse.success',
        data: { job_id: 'j' },
      }),
    });
    const id = response.json().callback_id as string;
    // What the worker's pump does with the ingest entry, then what its give-up does.
    const entries = await gateway.redis.xrange(gateway.keys.ingest, '-', '+');
    const [entryId = '', fields = []] = entries.find(([, f]) => f[1] === id) ?? [];
    await createDeliveryBatches({ redis: gateway.redis, keys: gateway.keys }).materialize(
      [
        {
          entryId,
          callbackId: id,
          registrationId: registration.id,
          replay: 0,
          header: parseCallbackHeader(fields[5] ?? ''),
        },
      ],
      `b-${entryId}`,
    );
    await gateway.redis.xdel(gateway.keys.ingest, entryId);
    const deliveries = createDeliveryStore({ redis: gateway.redis, keys: gateway.keys });
    await deliveries.transition({ id, registrationId: registration.id }, 'dead_lettered', {
      last_error: 'HTTP 500; gave up after 9 attempts',
      attempts: '9',
    });
    return { id, registrationId: registration.id };
  };

  it('signs in with an API token, shows the state, updates by itself, and replays a dead letter on click', async () => {
    const first = await deadLetter('evt-dash-1');
    await gateway.redis.zadd(gateway.keys.overdue, Date.now(), first.registrationId);
    const page = await browser.newPage();
    await page.goto(`${base}/dashboard`);
    await page.locator('#login').waitFor({ state: 'visible' });
    await page.fill('#token', 'not-the-token-0123456789');
    await page.click('#login-form button');
    await page.locator('#login-error', { hasText: 'not a valid token' }).waitFor();
    await page.fill('#token', API_TOKEN);
    await page.click('#login-form button');
    await page.locator('#board').waitFor({ state: 'visible' });

    expect(await page.textContent('#base-url')).toBe('https://hooks.example.com');
    await page.locator(`tr[data-delivery="${first.id}"]`).waitFor();
    expect(await page.textContent('#dead-total')).toBe('(1)');
    expect(await page.textContent('#overdue')).toContain(first.registrationId);

    // Live: a new dead letter shows up without a reload.
    const second = await deadLetter('evt-dash-2');
    await page.locator(`tr[data-delivery="${second.id}"]`).waitFor({ timeout: 5_000 });
    await page.screenshot({
      path: `${process.env['TMPDIR'] ?? '/tmp'}/cbgw-dashboard.png`,
      fullPage: true,
    });

    // Replay: the click requeues it (same webhook-id) and the row leaves the dead letters.
    await page.click(`tr[data-delivery="${first.id}"] button`);
    await page
      .locator(`tr[data-delivery="${first.id}"]`)
      .waitFor({ state: 'detached', timeout: 5_000 });
    const entries = await gateway.redis.xrange(gateway.keys.ingest, '-', '+');
    expect(entries.some(([, fields]) => fields[1] === first.id && fields.includes('replay'))).toBe(
      true,
    );
    expect(await gateway.redis.hget(gateway.keys.delivery(first.id), 'delivery_state')).toBe(
      'queued',
    );
    await page.close();
  });

  it('keeps its data and bull-board behind the API auth', async () => {
    expect((await fetch(`${base}/v1/dashboard/summary`)).status).toBe(401);
    expect((await fetch(`${base}/dashboard/queues`)).status).toBe(401);
    const withToken = await fetch(`${base}/dashboard/queues`, {
      headers: { authorization: `Bearer ${API_TOKEN}` },
    });
    expect(withToken.status).toBe(200);
    expect(await withToken.text()).toContain('<html');
    const login = await fetch(`${base}/dashboard/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: API_TOKEN }),
    });
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^cbgw_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=/);
    expect(cookie).not.toContain(API_TOKEN);
    const summary = await fetch(`${base}/v1/dashboard/summary`, {
      headers: { cookie: cookie.split(';')[0] ?? '' },
    });
    expect(summary.status).toBe(200);
    const forged = await fetch(`${base}/v1/dashboard/summary`, {
      headers: { cookie: `cbgw_session=0.${Date.now() + 60_000}.forged` },
    });
    expect(forged.status).toBe(401);
  });

  /** A page signed in to the dashboard (its session cookie set by the login form). */
  const signedIn = async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/dashboard`);
    await page.locator('#login').waitFor({ state: 'visible' });
    await page.fill('#token', API_TOKEN);
    await page.click('#login-form button');
    await page.locator('#board').waitFor({ state: 'visible' });
    return page;
  };

  it('refuses a replay that a page on another port of the same host sends with the session cookie', async () => {
    const dead = await deadLetter('evt-dash-cross-origin');
    const refusals = async () =>
      Number(
        /cbgw_cross_origin_refusals_total\{[^}]*\} (\d+)/.exec(
          (await gateway.app.inject({ url: '/metrics' })).body,
        )?.[1],
      );
    const before = await refusals();
    // Same site as the gateway (127.0.0.1), so the SameSite=Strict cookie goes along.
    const attacker: Server = createServer((_request, response) => {
      response.setHeader('content-type', 'text/html');
      response.end(`<!doctype html><script>
        fetch(${JSON.stringify(`${base}/v1/deliveries/${dead.id}/replay`)},
          { method: 'POST', credentials: 'include', mode: 'no-cors' })
          .finally(() => { document.title = 'sent'; });
      </script>`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    try {
      const page = await signedIn();
      await page.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`);
      await page.waitForFunction("document.title === 'sent'");
      // The dead letter stays one: the request arrived with the cookie, and was refused.
      expect(await gateway.redis.hget(gateway.keys.delivery(dead.id), 'delivery_state')).toBe(
        'dead_lettered',
      );
      expect(await refusals()).toBe(before + 1);
      await page.close();
    } finally {
      attacker.closeAllConnections();
      await new Promise<void>((resolve) => attacker.close(() => resolve()));
    }
  });

  it('runs bull-board under its Content-Security-Policy, with nothing blocked', async () => {
    const page = await signedIn();
    // Runs in the page (this project has no DOM types, hence a string).
    await page.addInitScript({
      content: `window.cspViolations = [];
        document.addEventListener('securitypolicyviolation', (event) =>
          window.cspViolations.push(event.violatedDirective + ' ' + event.blockedURI));`,
    });
    const response = await page.goto(`${base}/dashboard/queues`);
    expect(response?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    // bull-board's bundle is large: under a loaded CI machine it can take a while to render.
    await page.getByText('parse-submissions').first().waitFor({ timeout: 60_000 });
    await page.getByText('deliveries').first().waitFor();
    expect(await page.evaluate('window.cspViolations')).toEqual([]);
    await page.close();
  }, 90_000);
});
