import { createRequire } from 'node:module';
import { createServer, type Server, type Socket } from 'node:net';
import { memoryAuditLog } from '@callback-gateway/audit/testing';
import { freePort } from '@callback-gateway/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogger } from '../test/helpers.js';
import { WebhookUrlResolveError } from './errors.js';
import type { TunnelState } from './metrics.js';
import { loadNgrokSdk } from './ngrok-sdk.js';
import { createWebhookUrlResolver } from './resolver.js';
import type { WebhookUrlResolverOptions } from './resolver-options.js';

const BOGUS_TOKEN = 'bogus_authtoken_for_tests_0123456789';

function realSdkResolver(
  ngrok: NonNullable<WebhookUrlResolverOptions['ngrok']>,
  deadlineMs: number,
) {
  const audit = memoryAuditLog();
  const { logger, lines } = captureLogger();
  const resolver = createWebhookUrlResolver({
    sources: ['ngrok'],
    ngrok: { authtoken: BOGUS_TOKEN, ...ngrok },
    verify: 'syntax',
    deadlineMs,
    retry: { attempts: 0 },
    audit,
    logger,
  });
  const states: TunnelState[] = [];
  resolver.onStatusChange((state) => states.push(state));
  return { resolver, audit, lines, states };
}

async function failureOf(promise: Promise<unknown>): Promise<WebhookUrlResolveError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof WebhookUrlResolveError))
    throw new Error(`expected a typed failure, got ${String(error)}`);
  return error;
}

describe('the real @ngrok/ngrok SDK on loopback', () => {
  it('loads its native binary', async () => {
    const sdk = await loadNgrokSdk();
    expect(typeof sdk.forward).toBe('function');
    if (process.platform === 'linux' && process.arch === 'x64') {
      const require = createRequire(import.meta.url);
      const sdkDir = require.resolve('@ngrok/ngrok');
      expect(() => createRequire(sdkDir).resolve('@ngrok/ngrok-linux-x64-gnu')).not.toThrow();
    }
  });

  it('fails fast with a typed, retryable error when nothing listens at the ngrok address', async () => {
    const port = await freePort();
    const { resolver, audit, states, lines } = realSdkResolver(
      { serverAddr: `127.0.0.1:${port}` },
      5_000,
    );
    const started = Date.now();
    const error = await failureOf(resolver.resolve());
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error.reasons[0]).toMatchObject({
      source: 'ngrok',
      code: 'WEBHOOK_URL_NGROK_CONNECT',
      retryable: true,
    });
    expect(error.reasons[0]?.reason).toContain('failed to connect session');
    // The SDK calls onStatusChange("closed") for a failed first connect: it must not count as a lost tunnel.
    expect(states).toEqual(['starting', 'down']);
    expect(audit.ofType('tunnel.down').map((e) => e.data.phase)).toEqual(['start_failed']);
    expect(lines.join('\n') + JSON.stringify(audit.events)).not.toContain(BOGUS_TOKEN);
    await resolver.close();
  });

  it('fails fast against the default ingress with a bogus authtoken (offline: connect error; online: auth error)', async () => {
    const { resolver } = realSdkResolver({}, 5_000);
    const started = Date.now();
    const error = await failureOf(resolver.resolve());
    expect(Date.now() - started).toBeLessThan(5_000 + 300);
    expect([
      'WEBHOOK_URL_NGROK_CONNECT',
      'WEBHOOK_URL_NGROK_AUTH',
      'WEBHOOK_URL_DEADLINE_EXCEEDED',
    ]).toContain(error.reasons[0]?.code);
    expect(error.message).not.toContain(BOGUS_TOKEN);
    await resolver.close();
  });

  describe('pointed at a TCP server that accepts and never answers', () => {
    let server: Server;
    const sockets = new Set<Socket>();
    let port = 0;
    beforeAll(async () => {
      server = createServer((socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(async () => {
      // The SDK's native connect cannot be cancelled and keeps the process alive while it waits;
      // dropping its socket makes it fail ("tls handshake error"), so the test process can end.
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    });

    it('still returns its typed failure within the configured deadline, and closes promptly', async () => {
      const deadlineMs = 1_500;
      const { resolver, audit, states } = realSdkResolver(
        { serverAddr: `127.0.0.1:${port}` },
        deadlineMs,
      );
      const started = Date.now();
      const error = await failureOf(resolver.resolve());
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(deadlineMs - 50);
      expect(elapsed).toBeLessThan(deadlineMs + 300);
      expect(sockets.size).toBeGreaterThan(0);
      expect(error.code).toBe('WEBHOOK_URL_DEADLINE_EXCEEDED');
      expect(error.reasons[0]).toMatchObject({
        source: 'ngrok',
        code: expect.stringMatching(/DEADLINE_EXCEEDED|NGROK_CONNECT/),
      });
      const closeStarted = Date.now();
      await resolver.close();
      expect(Date.now() - closeStarted).toBeLessThan(2_500);
      expect(states).toContain('starting');
      expect(audit.ofType('tunnel.up')).toHaveLength(0);
    });
  });
});
