import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_TOKEN,
  postCallback,
  startTestPipeline,
  until,
  useE2eWorld,
  type TestPipeline,
} from './stack.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
// Kept as CI artefacts (reports/ is git-ignored).
const SHOTS = fileURLToPath(new URL('../../../reports/screenshots/dashboard/', import.meta.url));
/** The machine is shared and loaded: the page gets generous time to show each state. */
const SLOW = { timeout: 45_000 };

describe('the on-call dashboard in headless Chromium, on the real gateway, worker and Redis', () => {
  const world = useE2eWorld({
    env: {
      // One attempt each: a failed delivery is a dead letter at once. Three failures in a row
      // open a destination's breaker (two do not).
      DELIVERY_RETRY_SCHEDULE: '0',
      DELIVERY_BREAKER_FAILURES: '3',
    },
  });
  let browser: Browser;
  // Failing pipelines on an origin of their own (the healthy one's origin stays unaffected).
  let failing: TestPipeline;
  const secrets = new Map<string, string>();
  /** Each registration's path on the failing pipeline. */
  const registrationsTo = new Map<string, string>();

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is missing at ${CHROMIUM}: install the Debian "chromium" package`);
    }
    mkdirSync(SHOTS, { recursive: true });
    failing = await startTestPipeline((path) => secrets.get(path) ?? 'whsec_missing');
    failing.on('/down-a', () => ({ status: 500 }));
    failing.on('/down-b', () => ({ status: 503 }));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await failing?.close();
  });

  const shot = (page: Page, name: string) =>
    page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });

  /** Registers `count` jobs delivering to `url`, and sends each its final callback. */
  const traffic = async (url: string, count: number) => {
    for (let i = 0; i < count; i++) {
      const registration = await world.client().register({ deliverTo: url });
      registrationsTo.set(registration.id, new URL(url).pathname);
      const response = await postCallback(world.stack, registration.callbackUrl, {
        event_id: `${registration.id}-${i}`,
        event_type: 'parse.success',
        data: { job_id: `job-${i}` },
      });
      expect(response.status).toBe(202);
    }
  };

  const deadLettersTo = async (path: string) => {
    const response = await fetch(
      `${world.stack.gatewayUrl}/v1/deliveries?state=dead_lettered&limit=1000`,
      { headers: { authorization: `Bearer ${API_TOKEN}` } },
    );
    const body = (await response.json()) as {
      deliveries: { id: string; registration_id: string; replays: number }[];
    };
    return body.deliveries.filter((d) => registrationsTo.get(d.registration_id) === path);
  };

  const signIn = async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('dialog', (dialog) => void dialog.accept());
    // Runs in the page (this project has no DOM types, hence a string).
    await page.addInitScript({
      content: `window.cspViolations = [];
        document.addEventListener('securitypolicyviolation', (event) =>
          window.cspViolations.push(event.violatedDirective + ' ' + event.blockedURI));`,
    });
    await page.goto(`${world.stack.gatewayUrl}/dashboard`);
    await page.locator('#login').waitFor({ state: 'visible', ...SLOW });
    await page.fill('#token', API_TOKEN);
    await page.click('#login-form button');
    await page.locator('#banner').waitFor({ state: 'visible', ...SLOW });
    return page;
  };

  it('shows nothing but the login form before sign-in', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(`${world.stack.gatewayUrl}/dashboard`);
    await page.locator('#login').waitFor({ state: 'visible', ...SLOW });
    // Every section of the page but the login box, and the banner, stay out of sight.
    // Runs in the page (this project has no DOM types, hence a string).
    const visible =
      await page.evaluate(`[...document.querySelectorAll('section, #banner, main, table')]
      .filter((node) => node.checkVisibility()).map((node) => node.id)`);
    expect(visible).toEqual(['login']);
    expect(await page.locator('body').innerText()).not.toContain('loading');
    await shot(page, '1-login');
    await page.close();
  });

  it('lists a failing destination with its breaker, and replays exactly its dead letters', async () => {
    await traffic(failing.url('/down-a'), 3);
    await traffic(failing.url('/down-b'), 2);
    const healthy = await world.register('/ok');
    await postCallback(world.stack, healthy.callbackUrl, {
      event_id: 'ok-1',
      event_type: 'parse.success',
      data: { job_id: 'ok-1' },
    });
    await until(() => world.pipeline.receipts.length === 1, 30_000);
    await until(
      async () =>
        (await deadLettersTo('/down-a')).length === 3 &&
        (await deadLettersTo('/down-b')).length === 2,
      60_000,
    );

    const page = await signIn();
    const downA = page.locator(`tr[data-destination="${failing.url('/down-a')}"]`);
    await downA.waitFor(SLOW);
    await page
      .locator(`tr[data-destination="${failing.url('/down-a')}"][data-state="breaker_open"]`)
      .waitFor(SLOW);
    // The last error comes from the worker's history, written once a second: the page shows it
    // on one of its next refreshes.
    await page
      .locator(`tr[data-destination="${failing.url('/down-a')}"]`, { hasText: 'HTTP 500' })
      .waitFor(SLOW);
    expect(await downA.innerText()).toContain('breaker open');
    expect(await downA.innerText()).toContain('HTTP 500');
    await page.locator(`tr[data-destination="${world.pipeline.url('/ok')}"]`).waitFor(SLOW);
    expect(
      await page
        .locator(`tr[data-destination="${world.pipeline.url('/ok')}"]`)
        .getAttribute('data-state'),
    ).toBe('healthy');
    expect(await page.locator('#banner').getAttribute('data-level')).not.toBe('green');
    expect(await page.locator('#banner').innerText()).toContain('5 dead letters');
    await shot(page, '2-failing-destination');

    await downA.getByRole('button', { name: /Replay 3 dead letters/ }).click();
    await page
      .locator('#replay-result', {
        hasText: `3 dead letters of ${failing.url('/down-a')} requeued.`,
      })
      .waitFor(SLOW);
    await shot(page, '3-replayed');
    // Those three went round again (their replay is counted); the other destination's stayed.
    const headers = { authorization: `Bearer ${API_TOKEN}` };
    for (const { id } of await deadLettersTo('/down-b')) {
      const delivery = (await (
        await fetch(`${world.stack.gatewayUrl}/v1/deliveries/${id}`, { headers })
      ).json()) as { replays: number; state: string };
      expect(delivery).toMatchObject({ replays: 0, state: 'dead_lettered' });
    }
    const replays: number[] = [];
    for (const [id, path] of registrationsTo) {
      if (path !== '/down-a') continue;
      const registration = (await (
        await fetch(`${world.stack.gatewayUrl}/v1/registrations/${id}`, { headers })
      ).json()) as { deliveries: { replays: number }[] };
      replays.push(...registration.deliveries.map((d) => d.replays));
    }
    expect(replays).toEqual([1, 1, 1]);

    // Drill-down: the search box finds a dead letter by its id and opens its registration's
    // story, with the attempt's status and the pipeline's answer.
    const [deadLetter] = await deadLettersTo('/down-b');
    await page.fill('#search', deadLetter?.id ?? '');
    await page.click('#search-form button');
    await page.locator('#detail-id', { hasText: deadLetter?.registration_id ?? '' }).waitFor(SLOW);
    const story = page.locator(`#detail-body p[data-delivery="${deadLetter?.id}"]`);
    await story.waitFor(SLOW);
    expect(await page.locator('#detail-body').innerText()).toMatch(/503[\s\S]*dead_lettered/);
    await shot(page, '4-drill-down');
    await page.close();
  }, 120_000);

  it('charts the real traffic of the last hour, with points', async () => {
    const page = await signIn();
    // History is flushed to Redis every second; the page reads it every 10 s.
    await page.waitForFunction(
      "Number(document.querySelector('#chart-flow')?.dataset.points ?? 0) > 0",
      undefined,
      { timeout: 60_000, polling: 500 },
    );
    expect(await page.locator('#chart-flow canvas').count()).toBeGreaterThan(0);
    await page.waitForFunction(
      "Number(document.querySelector('#chart-latency')?.dataset.points ?? 0) > 0",
      undefined,
      { timeout: 30_000, polling: 500 },
    );
    // uPlot's legend names the series it drew.
    expect(await page.locator('#chart-flow').innerText()).toContain('delivered');
    expect(await page.locator('#updated').innerText()).toMatch(/UTC/);
    await page.click('.range button[data-hours="24"]');
    await shot(page, '5-charts');
    // Page, charts and their styles all load under the page's CSP.
    expect(await page.evaluate('window.cspViolations')).toEqual([]);
    await page.close();
  }, 120_000);

  it('turns the banner red, naming the worker, once no worker is alive', async () => {
    await world.stack.worker.stop();
    const page = await signIn();
    await page.locator('#banner[data-level="red"]').waitFor(SLOW);
    const banner = page.locator('#banner [data-condition="no_live_worker"]');
    await banner.waitFor(SLOW);
    expect(await banner.innerText()).toContain('No live worker');
    expect(await banner.locator('a[href="/dashboard/runbook#cbgwprocessnotscraped"]').count()).toBe(
      1,
    );
    await shot(page, '6-no-worker');
    await page.close();
  }, 90_000);
});
