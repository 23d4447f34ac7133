import { fileURLToPath } from 'node:url';
import {
  freePort,
  startProcess,
  startRedis,
  waitForHttp,
  type TestRedis,
  type WatchedProcess,
} from '@callback-gateway/testing';
import { afterEach, describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));

describe('worker started before Redis', () => {
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
        WORKER_PORT: String(port),
        WORKER_HOST: '127.0.0.1',
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
    await waitForHttp(`http://127.0.0.1:${port}/readyz`, (status) => status === 200, 15_000);
    await proc.waitForLine(/Redis is reachable again/);
    expect(
      proc.lines.filter((line) => line.includes('No public callback URL source is configured')),
    ).toHaveLength(1);
    expect(await proc.stop('SIGTERM')).toBe(0);
  });

  it('stops at once and cleanly on SIGINT while Redis is away, having said only what is missing', async () => {
    proc = startProcess({
      args: [main],
      env: {
        REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
        WORKER_PORT: String(await freePort()),
        RECONCILE_INTERVAL_MS: '100',
        SHUTDOWN_DEADLINE_MS: '5000',
      },
    });
    await proc.waitForLine(/Redis is not reachable/);
    // Many reconciliation sweeps and pump reads would fail meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await proc.stop('SIGINT')).toBe(0);
    expect(proc.lines.some((line) => line.includes('shut down cleanly'))).toBe(true);
    const problems = proc.lines.filter((line) => /"level":"(warn|error|fatal)"/.test(line));
    expect(problems.map((line) => JSON.parse(line).msg as string)).toEqual([
      expect.stringMatching(/^No public callback URL source is configured/),
      expect.stringMatching(/^Redis is not reachable at/),
    ]);
  });

  it('refuses bad settings with one line per variable and exit code 2', async () => {
    proc = startProcess({ args: [main], env: { WORKER_PORT: 'eighty', WORKER_PROT: '1' } });
    const code = await new Promise<number | null>((resolve) => proc?.child.once('exit', resolve));
    expect(code).toBe(2);
    expect(proc.lines).toContain(
      'worker: invalid setting WORKER_PORT: expected an integer from 0 to 65535, got "eighty"',
    );
    expect(proc.lines).toContain(
      'worker: invalid setting WORKER_PROT: unknown setting; did you mean WORKER_PORT?',
    );
    expect(proc.lines.some((line) => /\s+at /.test(line))).toBe(false);
  });
});

describe('worker heartbeat thresholds from the environment', () => {
  let proc: WatchedProcess | undefined;
  afterEach(async () => {
    await proc?.stop();
  });

  it('reports degraded, then dead on /healthz, after the configured times without Redis', async () => {
    const port = await freePort();
    proc = startProcess({
      args: [main],
      env: {
        REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
        WORKER_PORT: String(port),
        WORKER_HEARTBEAT_INTERVAL_MS: '100',
        WORKER_HEARTBEAT_DEGRADED_MS: '500',
        WORKER_HEARTBEAT_DEAD_MS: '1500',
      },
    });
    const degraded = await waitForHttp(`http://127.0.0.1:${port}/readyz`, (_status, body) =>
      body.includes('degraded: no successful heartbeat'),
    );
    expect(JSON.parse(degraded.body).checks.heartbeat.ready).toBe(false);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const dead = await waitForHttp(`http://127.0.0.1:${port}/healthz`, (status) => status === 503);
    expect(JSON.parse(dead.body)).toMatchObject({ status: 'dead' });
  });
});
