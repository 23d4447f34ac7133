import { fileURLToPath } from 'node:url';
import {
  freePort,
  startProcess,
  startRedis,
  waitForHttp,
  type TestRedis,
  type WatchedProcess,
} from '@callback-gateway/testing';
import { DEFAULT_PROBE_KEY_KEY, PROBE_PATH, probeProof } from '@callback-gateway/webhook-url';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));

describe('gateway started before Redis', () => {
  let proc: WatchedProcess | undefined;
  let redis: TestRedis | undefined;
  afterEach(async () => {
    await proc?.stop();
    await redis?.close();
  });

  it('stays up, says once what is missing, reports not ready, and becomes ready when Redis appears', async () => {
    const redisPort = await freePort();
    const port = await freePort();
    proc = startProcess({
      args: [main],
      env: {
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        GATEWAY_PORT: String(port),
        GATEWAY_HOST: '127.0.0.1',
      },
    });
    await proc.waitForLine(/Redis is not reachable at redis:\/\/127\.0\.0\.1:\d+ .*redis-server/);
    const health = await waitForHttp(
      `http://127.0.0.1:${port}/healthz`,
      (status) => status === 200,
    );
    expect(JSON.parse(health.body)).toEqual({ status: 'ok' });
    const notReady = await waitForHttp(
      `http://127.0.0.1:${port}/readyz`,
      (status) => status === 503,
    );
    expect(JSON.parse(notReady.body).checks.redis.ready).toBe(false);

    // Several reconnect attempts later: still one line, no stack trace, no crash.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(proc.running).toBe(true);
    expect(proc.lines.filter((line) => /Redis is not reachable/.test(line))).toHaveLength(1);
    expect(proc.lines.some((line) => /^\s+at |\\n\s+at /.test(line))).toBe(false);

    redis = await startRedis({ port: redisPort });
    await waitForHttp(`http://127.0.0.1:${port}/readyz/ingest`, (status) => status === 200, 15_000);
    await proc.waitForLine(/Redis is reachable again/);
    // Still not fully ready, and it says exactly why: no public URL source is configured. (For
    // the moment the resolver takes to start once Redis answers, it says that instead.)
    const readiness = await waitForHttp(
      `http://127.0.0.1:${port}/readyz`,
      (status, body) => status === 503 && !body.includes('resolver is starting'),
    );
    expect(JSON.parse(readiness.body).checks).toEqual({
      redis: { ready: true },
      public_url: { ready: false, reason: 'no verified public callback URL yet' },
    });
    expect(
      proc.lines.filter((line) => line.includes('No public callback URL source is configured')),
    ).toHaveLength(1);
    expect(await proc.stop('SIGTERM')).toBe(0);
  });

  it('becomes fully ready with a public base URL from configuration', async () => {
    redis = await startRedis();
    const port = await freePort();
    proc = startProcess({
      args: [main],
      env: {
        REDIS_URL: redis.url,
        GATEWAY_PORT: String(port),
        PUBLIC_BASE_URL: 'https://hooks.example.com',
        WEBHOOK_URL_VERIFY: 'syntax',
      },
    });
    const ready = await waitForHttp(`http://127.0.0.1:${port}/readyz`, (status) => status === 200);
    expect(JSON.parse(ready.body).ready).toBe(true);
    const current = await waitForHttp(
      `http://127.0.0.1:${port}/v1/webhook-url`,
      (status) => status === 200,
    );
    expect(JSON.parse(current.body)).toMatchObject({
      base_url: 'https://hooks.example.com',
      source: 'cloud_config',
      verified_by: 'syntax',
      insecure: false,
    });
    // The probe endpoint answers with the key shared through Redis (the worker verifies with it).
    const shared = new Redis(redis.url);
    const key = await shared.get(DEFAULT_PROBE_KEY_KEY);
    shared.disconnect();
    const nonce = 'ab'.repeat(16);
    const probe = await fetch(`http://127.0.0.1:${port}${PROBE_PATH}?nonce=${nonce}`);
    expect(await probe.json()).toEqual({ nonce, proof: probeProof(key ?? '', nonce) });
    await proc.waitForLine(
      /public callback URL: https:\/\/hooks\.example\.com \(from cloud_config, verified by syntax\)/,
    );
    expect(proc.lines.some((line) => line.includes('No public callback URL source'))).toBe(false);
  });

  it('refuses a localhost PUBLIC_BASE_URL at start, naming the variable', async () => {
    proc = startProcess({ args: [main], env: { PUBLIC_BASE_URL: 'https://localhost:8000' } });
    const code = await new Promise<number | null>((resolve) => proc?.child.once('exit', resolve));
    expect(code).toBe(2);
    expect(proc.lines[0]).toMatch(
      /^gateway: invalid setting PUBLIC_BASE_URL: .*localhost.*\(WEBHOOK_URL_LOCAL_HOST\)$/,
    );
  });

  it('refuses bad settings with one line per variable and exit code 2', async () => {
    proc = startProcess({ args: [main], env: { GATEWAY_PORT: 'eighty', GATEWAY_PROT: '1' } });
    const code = await new Promise<number | null>((resolve) => proc?.child.once('exit', resolve));
    expect(code).toBe(2);
    expect(proc.lines).toContain(
      'gateway: invalid setting GATEWAY_PORT: expected an integer from 0 to 65535, got "eighty"',
    );
    expect(proc.lines).toContain(
      'gateway: invalid setting GATEWAY_PROT: unknown setting; did you mean GATEWAY_PORT?',
    );
    expect(proc.lines.some((line) => /\s+at /.test(line))).toBe(false);
  });
});
