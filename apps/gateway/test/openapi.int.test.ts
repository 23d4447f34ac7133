import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGatewayConfig, startGateway, type StartedGateway } from '../src/index.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const redoclyBin = fileURLToPath(new URL('../../../node_modules/.bin/redocly', import.meta.url));

/** `redocly lint` with its recommended rules, offline; resolves its JSON report. */
function redoclyLint(file: string, cwd: string) {
  return new Promise<{ totals: Record<string, number>; problems: unknown[] }>((resolve, reject) =>
    execFile(
      redoclyBin,
      ['lint', file, '--extends=recommended', '--format=json'],
      {
        cwd,
        env: {
          PATH: process.env['PATH'] ?? '',
          HOME: cwd,
          REDOCLY_TELEMETRY: 'off',
          REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true',
        },
      },
      // It exits 1 when it finds errors: the report says which.
      (error, stdout) => {
        try {
          resolve(JSON.parse(stdout) as { totals: Record<string, number>; problems: unknown[] });
        } catch {
          reject(error ?? new Error(`redocly printed no JSON report: ${stdout}`));
        }
      },
    ),
  );
}

describe('the API reference', () => {
  let redis: TestRedis;
  let gateway: StartedGateway;
  let dir: string;
  beforeAll(async () => {
    redis = await startRedis();
    dir = await mkdtemp(join(tmpdir(), 'cbg-openapi-'));
    gateway = await startGateway(
      loadGatewayConfig({
        REDIS_URL: redis.url,
        GATEWAY_PORT: '0',
        GATEWAY_API_TOKENS: 'test-api-token-0123456789',
        LOG_LEVEL: 'silent',
      }),
    );
  });
  afterAll(async () => {
    await gateway.close();
    await redis.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves an OpenAPI document that redocly lint passes with its recommended rules, no warning', async () => {
    const response = await fetch(`${gateway.url}/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as {
      paths: Record<string, Record<string, { operationId?: string }>>;
    };
    const file = join(dir, 'openapi.json');
    await writeFile(file, JSON.stringify(document));
    const report = await redoclyLint(file, dir);
    expect(report.problems).toEqual([]);
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 });
    // Every operation a client generator would name.
    const ids = Object.values(document.paths).flatMap((item) =>
      Object.values(item).map((operation) => operation.operationId),
    );
    expect(ids).toContain('createRegistration');
    expect(ids).toContain('submitParse');
    expect(ids.every(Boolean)).toBe(true);
  });

  it('serves a readable reference page and its assets from the gateway, under a CSP', async () => {
    const page = await fetch(`${gateway.url}/docs/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/https?:\/\//);
    const html = await page.text();
    // Nothing from elsewhere: every script and stylesheet is the gateway's own.
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '');
    expect(assets.filter((asset) => /^(https?:)?\/\//.test(asset))).toEqual([]);
    const scripts = assets.filter((asset) => asset.endsWith('.js'));
    expect(scripts.length).toBeGreaterThan(0);
    for (const asset of [...scripts, ...assets.filter((asset) => asset.endsWith('.css'))]) {
      const answer = await fetch(new URL(asset, `${gateway.url}/docs/`));
      expect(answer.status, asset).toBe(200);
      expect(answer.headers.get('content-type'), asset).toMatch(
        asset.endsWith('.js') ? /javascript/ : /text\/css/,
      );
      await answer.arrayBuffer();
    }
  });

  // A cold Chromium on a busy machine takes its time: a minute, as the dashboard's tests.
  it(
    'renders every operation in Chromium without breaking its CSP',
    { timeout: 60_000 },
    async () => {
      expect(existsSync(CHROMIUM), `Chromium is missing at ${CHROMIUM}`).toBe(true);
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--no-first-run',
        ],
      });
      try {
        const page = await browser.newPage();
        const problems: string[] = [];
        page.on('console', (message) => {
          if (message.type() === 'error' || message.type() === 'warning')
            problems.push(message.text());
        });
        page.on('requestfailed', (request) => problems.push(`failed: ${request.url()}`));
        await page.goto(`${gateway.url}/docs/`);
        await page.waitForSelector('.swagger-ui .info .title', { timeout: 30_000 });
        expect(await page.textContent('.swagger-ui .info .title')).toContain('Callback Gateway');
        expect(await page.locator('.opblock-summary-path').count()).toBe(11);
        expect(problems).toEqual([]);
      } finally {
        await browser.close();
      }
    },
  );
});
