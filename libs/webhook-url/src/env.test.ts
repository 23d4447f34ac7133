import { memoryAuditLog } from '@callback-gateway/audit/testing';
import { describe, expect, it, vi } from 'vitest';
import { captureLogger } from '../test/helpers.js';
import { parseWebhookUrlEnv, resolverOptionsFromEnv, webhookUrlEnvSchema } from './env.js';
import { createWebhookUrlResolver } from './resolver.js';
import { fakeNgrok, manualClock, ngrokSdkError } from './testing.js';
import type { LookupFunction } from './verify.js';

const deps = () => ({ audit: memoryAuditLog(), logger: captureLogger().logger });

/** A resolver with only the ngrok source, built from `vars` (a fake SDK, a manual clock). */
function tunnelFromEnv(
  vars: Record<string, string>,
  extra: { random?: () => number; unhealthyThreshold?: number } = {},
) {
  const env = parseWebhookUrlEnv({
    NGROK_AUTHTOKEN: 'tok_from_env_0123456789',
    WEBHOOK_URL_SOURCES: 'ngrok',
    WEBHOOK_URL_VERIFY: 'syntax',
    ...vars,
  });
  const clock = manualClock();
  const ngrok = fakeNgrok();
  const resolver = createWebhookUrlResolver(
    resolverOptionsFromEnv(env, {
      ...deps(),
      clock,
      ...(extra.random && { random: extra.random }),
      ngrok: {
        forward: ngrok.forward,
        ...(extra.unhealthyThreshold !== undefined && {
          unhealthyThreshold: extra.unhealthyThreshold,
        }),
      },
    }),
  );
  return { clock, ngrok, resolver };
}

describe('the environment', () => {
  it('has a default for every variable', () => {
    expect(parseWebhookUrlEnv({})).toEqual({
      PUBLIC_BASE_URL: undefined,
      NGROK_AUTHTOKEN: undefined,
      NGROK_DOMAIN: undefined,
      WEBHOOK_URL_SOURCES: ['cloud_config', 'ngrok', 'cache'],
      WEBHOOK_URL_VERIFY: undefined,
      WEBHOOK_URL_DEADLINE_MS: 10_000,
      WEBHOOK_URL_ALLOW_INSECURE_HTTP: false,
      NGROK_HEALTH_INTERVAL_MS: 30_000,
      NGROK_RECONNECT_MAX_MS: 60_000,
      WEBHOOK_URL_CACHE_TTL_S: 86_400,
      WEBHOOK_URL_PROBE_KEY: undefined,
      GATEWAY_PORT: 8080,
      GATEWAY_HOST: '127.0.0.1',
    });
  });

  it.each([
    ['WEBHOOK_URL_DEADLINE_MS', 'soon'],
    ['WEBHOOK_URL_DEADLINE_MS', '-5'],
    ['NGROK_HEALTH_INTERVAL_MS', '1.5'],
    ['NGROK_RECONNECT_MAX_MS', '500'],
    ['WEBHOOK_URL_ALLOW_INSECURE_HTTP', 'maybe'],
    ['WEBHOOK_URL_SOURCES', 'cloud_config,carrier_pigeon'],
    ['WEBHOOK_URL_VERIFY', 'deep'],
    ['WEBHOOK_URL_PROBE_KEY', 'short'],
    ['GATEWAY_PORT', '70000'],
    ['PUBLIC_BASE_URL', 'gateway.example.com'],
    ['NGROK_DOMAIN', 'https://x.ngrok.app/'],
  ])('names %s in the message when its value %j is bad', (name, value) => {
    expect(() => parseWebhookUrlEnv({ [name]: value })).toThrow(
      expect.objectContaining({
        code: 'WEBHOOK_URL_CONFIG_INVALID',
        message: expect.stringContaining(`${name}:`),
      }),
    );
  });

  it('is an object schema the apps can extend', () => {
    const extended = webhookUrlEnvSchema.extend({}).parse({ GATEWAY_PORT: '9000', OTHER: 'x' });
    expect(extended.GATEWAY_PORT).toBe(9000);
  });

  it('refuses a PUBLIC_BASE_URL the policy refuses at start-up, naming the variable', () => {
    const env = parseWebhookUrlEnv({ PUBLIC_BASE_URL: 'http://localhost:8000' });
    expect(() => resolverOptionsFromEnv(env, deps())).toThrow(
      /PUBLIC_BASE_URL is refused \(WEBHOOK_URL_SCHEME_NOT_ALLOWED\)/,
    );
  });

  it('wires the health-check interval and the deadline from the environment into the timers', async () => {
    const { clock, ngrok, resolver } = tunnelFromEnv({
      NGROK_HEALTH_INTERVAL_MS: '1234',
      WEBHOOK_URL_DEADLINE_MS: '777',
    });
    await resolver.resolve();
    const armed = clock.timers.map((timer) => [timer.kind, timer.ms]);
    expect(armed).toContainEqual(['interval', 1234]);
    expect(armed).toContainEqual(['timeout', 777]);
    expect(ngrok.calls[0]?.authtoken).toBe('tok_from_env_0123456789');
    await resolver.close();
  });

  it('wires NGROK_RECONNECT_MAX_MS as the longest wait between tunnel reconnect attempts', async () => {
    const { clock, ngrok, resolver } = tunnelFromEnv(
      { NGROK_HEALTH_INTERVAL_MS: '1000', NGROK_RECONNECT_MAX_MS: '3000' },
      { random: () => 0.999, unhealthyThreshold: 1 },
    );
    await resolver.resolve();
    // The session is lost and ngrok stays away: eight reconnect attempts fail.
    const unreachable = () => ({
      error: ngrokSdkError('failed to connect session: failed to establish tcp connection'),
    });
    ngrok.next(...Array.from({ length: 8 }, unreachable));
    ngrok.emitStatus('closed');
    clock.advance(1_000);
    const waits: number[] = [];
    for (let attempt = 2; attempt <= 8; attempt++) {
      await vi.waitFor(() => expect(ngrok.calls).toHaveLength(attempt));
      const wait = clock.timers
        .filter((timer) => timer.kind === 'timeout' && !timer.cleared)
        .at(-1);
      waits.push(wait?.ms ?? -1);
      clock.advance(wait?.ms ?? 0);
    }
    // 1 s doubling with full jitter (here at its top): 0.999, 1.998, then the 3 s cap.
    expect(waits.slice(0, 3)).toEqual([999, 1_998, 2_997]);
    expect(waits.slice(3)).toEqual([2_997, 2_997, 2_997, 2_997]);
    await resolver.close();
  });

  it('wires the deadline so that a hanging source fails at exactly that time', async () => {
    const env = parseWebhookUrlEnv({
      PUBLIC_BASE_URL: 'https://gw.example.com',
      WEBHOOK_URL_DEADLINE_MS: '777',
    });
    const clock = manualClock();
    const never: LookupFunction = () => new Promise(() => undefined);
    const resolver = createWebhookUrlResolver(
      resolverOptionsFromEnv(env, { ...deps(), clock, lookup: never }),
    );
    const pending = resolver.resolve();
    pending.catch(() => undefined);
    await Promise.resolve();
    clock.advance(776);
    await Promise.resolve();
    clock.advance(1);
    await expect(pending).rejects.toMatchObject({ code: 'WEBHOOK_URL_DEADLINE_EXCEEDED' });
  });
});
