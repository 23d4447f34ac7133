import { memoryAuditLog } from '@callback-gateway/audit/testing';
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { captureLogger } from '../test/helpers.js';
import type { TunnelState } from './metrics.js';
import { createWebhookUrlResolver } from './resolver.js';
import type { NgrokOptions, WebhookUrlResolverOptions } from './resolver-options.js';
import { fakeNgrok, manualClock, ngrokSdkError, staticLookup } from './testing.js';

const AUTHTOKEN = 'tok_1234567890abcdefghij';
const FIRST = 'https://first-tunnel.ngrok-free.app';
const SECOND = 'https://second-tunnel.ngrok-free.app';

function setup(
  overrides: Partial<WebhookUrlResolverOptions> = {},
  ngrokOverrides: Partial<NgrokOptions> = {},
) {
  const ngrok = fakeNgrok(FIRST);
  const clock = manualClock();
  const audit = memoryAuditLog();
  const registry = new Registry();
  const { logger } = captureLogger();
  const health = { healthy: true };
  // Depth dns: each health check looks the tunnel host up; `health.healthy` decides the answer.
  const lookup = staticLookup(() => (health.healthy ? ['93.184.215.14'] : ['10.0.0.8']));
  const resolver = createWebhookUrlResolver({
    sources: ['ngrok'],
    ngrok: {
      authtoken: AUTHTOKEN,
      forward: ngrok.forward,
      healthIntervalMs: 1_000,
      reconnectBackoff: { baseMs: 10, capMs: 10 },
      ...ngrokOverrides,
    },
    verify: 'dns',
    lookup,
    clock,
    random: () => 0,
    audit,
    logger,
    registry,
    ...overrides,
  });
  const states: TunnelState[] = [];
  resolver.onStatusChange((state) => states.push(state));
  return { ngrok, clock, audit, registry, resolver, states, health };
}

describe('the ngrok source', () => {
  it('opens the tunnel with the SDK option names and audits tunnel.up with a session id', async () => {
    const { ngrok, resolver, audit, states } = setup(
      { gatewayPort: 9090, gatewayHost: '0.0.0.0' },
      { domain: 'gw.ngrok.app', serverAddr: 'ingress.example.com:443' },
    );
    await expect(resolver.resolve()).resolves.toMatchObject({
      baseUrl: FIRST,
      source: 'ngrok',
      verifiedBy: 'dns',
    });
    expect(ngrok.calls[0]).toMatchObject({
      addr: '127.0.0.1:9090',
      authtoken: AUTHTOKEN,
      domain: 'gw.ngrok.app',
      server_addr: 'ingress.example.com:443',
      force_new_session: true,
      onStatusChange: expect.any(Function),
    });
    const up = audit.ofType('tunnel.up')[0];
    expect(up?.data).toEqual({ provider: 'ngrok', url: FIRST, domain: 'gw.ngrok.app' });
    expect(up?.correlation.tunnel_session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(states).toEqual(['starting', 'up']);
    expect(resolver.status()).toMatchObject({ tunnel: 'up', current: { baseUrl: FIRST } });
    await resolver.close();
    const down = audit.ofType('tunnel.down')[0];
    expect(down?.data).toMatchObject({ phase: 'closed', url: FIRST });
    expect(down?.correlation.tunnel_session_id).toBe(up?.correlation.tunnel_session_id);
  });

  it('audits a failed first start, and reports it as retryable when ngrok is unreachable', async () => {
    const { ngrok, resolver, audit, states } = setup({ retry: { attempts: 0 } });
    ngrok.next({
      error: ngrokSdkError('failed to connect session: failed to establish tcp connection'),
    });
    await expect(resolver.resolve()).rejects.toMatchObject({
      code: 'WEBHOOK_URL_UNAVAILABLE',
      reasons: [expect.objectContaining({ code: 'WEBHOOK_URL_NGROK_CONNECT', retryable: true })],
    });
    const down = audit.ofType('tunnel.down');
    expect(down).toHaveLength(1);
    expect(down[0]?.data).toMatchObject({
      phase: 'start_failed',
      code: 'WEBHOOK_URL_NGROK_CONNECT',
    });
    expect(audit.ofType('tunnel.up')).toHaveLength(0);
    expect(states).toEqual(['starting', 'down']);
    await resolver.resolve();
    expect(resolver.status().tunnel).toBe('up');
  });

  it('health-checks on its interval: degraded after one failure, reconnected after two', async () => {
    const { ngrok, clock, resolver, audit, registry, states, health } = setup();
    await resolver.resolve();
    expect(clock.timers.filter((t) => t.kind === 'interval').map((t) => t.ms)).toEqual([1_000]);
    health.healthy = false;
    clock.advance(1_000);
    await vi.waitFor(() => expect(resolver.status().tunnel).toBe('degraded'));
    ngrok.next({ url: SECOND });
    health.healthy = true;
    // The check of SECOND succeeds, but the check that triggers the reconnect still sees FIRST fail.
    health.healthy = false;
    clock.advance(1_000);
    await vi.waitFor(() => expect(ngrok.calls).toHaveLength(2));
    health.healthy = true;
    await vi.waitFor(() => expect(resolver.status().tunnel).toBe('up'));
    expect(states).toEqual(['starting', 'up', 'degraded', 'reconnecting', 'up']);
    expect(ngrok.listeners[0]?.closed).toBe(true);
    expect(audit.ofType('webhook_url.changed')[0]?.data).toEqual({
      old_url: FIRST,
      new_url: SECOND,
      source: 'ngrok',
    });
    const ups = audit.ofType('tunnel.up').map((e) => e.correlation.tunnel_session_id);
    const downs = audit.ofType('tunnel.down').map((e) => e.correlation.tunnel_session_id);
    expect(ups).toHaveLength(2);
    expect(new Set(ups).size).toBe(2);
    expect(downs).toEqual([ups[0]]);
    expect(await registry.metrics()).toMatch(/cbgw_tunnel_reconnects_total 1/);
    expect(await registry.metrics()).toMatch(/cbgw_webhook_url_changes_total\{source="ngrok"\} 1/);
    expect(await registry.metrics()).toMatch(/cbgw_tunnel_state\{state="up"\} 1/);
    await expect(resolver.resolve()).resolves.toMatchObject({ baseUrl: SECOND });
    await resolver.close();
  });

  it('follows the SDK reconnecting by itself and announces a new URL', async () => {
    const { ngrok, resolver, audit, states } = setup({ retry: { attempts: 0 } });
    await resolver.resolve();
    ngrok.emitStatus('closed');
    expect(resolver.status().tunnel).toBe('reconnecting');
    expect(resolver.current()).toBeUndefined();
    await expect(resolver.resolve()).rejects.toMatchObject({
      reasons: [expect.objectContaining({ code: 'WEBHOOK_URL_TUNNEL_DOWN' })],
    });
    ngrok.setUrl(SECOND);
    ngrok.emitStatus('connected');
    expect(states).toEqual(['starting', 'up', 'reconnecting', 'up']);
    expect(audit.ofType('tunnel.down')[0]?.data.phase).toBe('lost');
    expect(audit.ofType('webhook_url.changed')[0]?.data).toMatchObject({
      old_url: FIRST,
      new_url: SECOND,
    });
    await expect(resolver.resolve()).resolves.toMatchObject({ baseUrl: SECOND });
    expect(ngrok.calls).toHaveLength(1);
  });

  it('takes over when the SDK does not reconnect within the unhealthy threshold', async () => {
    const { ngrok, clock, resolver } = setup({}, { unhealthyThreshold: 2 });
    await resolver.resolve();
    ngrok.emitStatus('closed');
    ngrok.next(
      { error: ngrokSdkError('failed to connect session: failed to establish tcp connection') },
      { url: SECOND },
    );
    clock.advance(2_000);
    await vi.waitFor(() => expect(ngrok.calls).toHaveLength(2));
    clock.advance(10);
    await vi.waitFor(() => expect(resolver.status().tunnel).toBe('up'));
    expect(ngrok.calls).toHaveLength(3);
    await expect(resolver.resolve()).resolves.toMatchObject({ baseUrl: SECOND });
  });

  it('stops reconnecting and reports down when ngrok refuses the account', async () => {
    const { ngrok, clock, resolver, health } = setup({}, { unhealthyThreshold: 1 });
    await resolver.resolve();
    ngrok.next({
      error: ngrokSdkError(
        'failed to connect session: The account has been suspended. error_code: ERR_NGROK_103',
      ),
    });
    health.healthy = false;
    clock.advance(1_000);
    await vi.waitFor(() => expect(resolver.status().tunnel).toBe('down'));
    clock.advance(60_000);
    expect(ngrok.calls).toHaveLength(2);
  });

  it('cancels the health checks on close', async () => {
    const { clock, resolver } = setup();
    await resolver.resolve();
    await resolver.close();
    expect(clock.timers.filter((t) => t.kind === 'interval').every((t) => t.cleared)).toBe(true);
    expect(clock.timers.filter((t) => !t.cleared)).toEqual([]);
  });
});
