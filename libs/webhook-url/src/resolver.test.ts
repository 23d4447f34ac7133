import { memoryAuditLog } from '@callback-gateway/audit/testing';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { captureLogger } from '../test/helpers.js';
import { WebhookUrlResolveError } from './errors.js';
import { createWebhookUrlResolver } from './resolver.js';
import type { WebhookUrlResolverOptions } from './resolver-options.js';
import { fakeNgrok, manualClock, ngrokSdkError, staticLookup } from './testing.js';
import type { LookupFunction } from './verify.js';

const PUBLIC = ['93.184.215.14'];
const AUTHTOKEN = '2abcDEFghiJKLmnoPQRstu_vwxYZ0123456789secret';

function setup(overrides: Partial<WebhookUrlResolverOptions> = {}) {
  const audit = memoryAuditLog();
  const { logger, lines } = captureLogger();
  const registry = new Registry();
  const resolver = createWebhookUrlResolver({ audit, logger, registry, ...overrides });
  return { resolver, audit, lines, registry };
}

async function failure(promise: Promise<unknown>): Promise<WebhookUrlResolveError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof WebhookUrlResolveError) return error;
    throw error;
  }
  throw new Error('expected the resolve to fail');
}

describe('createWebhookUrlResolver', () => {
  it('resolves the configured public base URL after checking its DNS', async () => {
    const { resolver, audit, registry } = setup({
      publicBaseUrl: 'https://Gateway.Example.com/',
      lookup: staticLookup({ 'gateway.example.com': PUBLIC }),
    });
    const resolution = await resolver.resolve();
    expect(resolution).toMatchObject({
      baseUrl: 'https://gateway.example.com',
      source: 'cloud_config',
      verifiedBy: 'dns',
      insecure: false,
    });
    expect(resolution.resolvedAt).toBeInstanceOf(Date);
    expect(audit.ofType('webhook_url.resolved')[0]?.data).toMatchObject({
      source: 'cloud_config',
      verified_by: 'dns',
    });
    expect(await registry.metrics()).toMatch(
      /cbgw_webhook_url_resolutions_total\{source="cloud_config",outcome="success"\} 1/,
    );
    await resolver.close();
  });

  it('fails fast with WEBHOOK_URL_NO_SOURCE and what to set when nothing is configured', async () => {
    const { resolver, audit } = setup();
    const started = performance.now();
    const error = await failure(resolver.resolve());
    expect(performance.now() - started).toBeLessThan(50);
    expect(error.code).toBe('WEBHOOK_URL_NO_SOURCE');
    expect(error.httpStatus).toBe(503);
    expect(error.reasons.map((r) => [r.source, r.code])).toEqual([
      ['cloud_config', 'WEBHOOK_URL_NOT_CONFIGURED'],
      ['ngrok', 'WEBHOOK_URL_NOT_CONFIGURED'],
      ['cache', 'WEBHOOK_URL_NOT_CONFIGURED'],
    ]);
    expect(error.message).toMatch(/PUBLIC_BASE_URL/);
    expect(error.message).toMatch(/NGROK_AUTHTOKEN/);
    expect(audit.ofType('webhook_url.refused')).toHaveLength(1);
    await resolver.close();
  });

  it('never falls back to localhost: a refused URL is a refusal, not a default', async () => {
    const { resolver } = setup({
      publicBaseUrl: 'http://localhost:8000',
      sources: ['cloud_config'],
    });
    const error = await failure(resolver.resolve());
    expect(error.code).toBe('WEBHOOK_URL_NO_SOURCE');
    expect(error.reasons[0]).toMatchObject({
      source: 'cloud_config',
      code: 'WEBHOOK_URL_SCHEME_NOT_ALLOWED',
    });
    expect(resolver.current()).toBeUndefined();
  });

  it('tries the sources in the configured order and takes the first usable one', async () => {
    const ngrok = fakeNgrok('https://abc123.ngrok-free.app');
    const { resolver, audit } = setup({
      sources: ['cloud_config', 'ngrok'],
      publicBaseUrl: 'https://10.0.0.8',
      ngrok: { authtoken: AUTHTOKEN, forward: ngrok.forward },
      verify: 'syntax',
    });
    const resolution = await resolver.resolve();
    expect(resolution).toMatchObject({
      baseUrl: 'https://abc123.ngrok-free.app',
      source: 'ngrok',
      verifiedBy: 'syntax',
    });
    expect(audit.ofType('tunnel.up')).toHaveLength(1);
    await resolver.close();
    expect(ngrok.listeners[0]?.closed).toBe(true);
  });

  it('shares one in-flight resolution between concurrent callers', async () => {
    let lookups = 0;
    const lookup: LookupFunction = async () => {
      lookups++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return [{ address: '93.184.215.14', family: 4 }];
    };
    const { resolver } = setup({ publicBaseUrl: 'https://gw.example.com', lookup });
    const results = await Promise.all(Array.from({ length: 10 }, () => resolver.resolve()));
    expect(lookups).toBe(1);
    expect(new Set(results).size).toBe(1);
  });

  it('returns the remembered resolution in well under a millisecond while it is fresh', async () => {
    const clock = manualClock();
    let lookups = 0;
    const lookup: LookupFunction = async () => {
      lookups++;
      return [{ address: '93.184.215.14', family: 4 }];
    };
    const { resolver } = setup({
      publicBaseUrl: 'https://gw.example.com',
      lookup,
      clock,
      revalidateAfterMs: 60_000,
    });
    const first = await resolver.resolve();
    const started = performance.now();
    for (let i = 0; i < 1_000; i++) await resolver.resolve();
    expect((performance.now() - started) / 1_000).toBeLessThan(1);
    expect(await resolver.resolve()).toBe(first);
    expect(lookups).toBe(1);
    clock.advance(60_001);
    await resolver.resolve();
    expect(lookups).toBe(2);
    await resolver.resolve({ fresh: true });
    expect(lookups).toBe(3);
  });

  it('returns a typed failure at its deadline when a source never answers', async () => {
    const never: LookupFunction = () => new Promise(() => undefined);
    const { resolver } = setup({
      publicBaseUrl: 'https://gw.example.com',
      lookup: never,
      deadlineMs: 200,
    });
    const started = Date.now();
    const error = await failure(resolver.resolve());
    expect(Date.now() - started).toBeLessThan(400);
    expect(error.code).toBe('WEBHOOK_URL_DEADLINE_EXCEEDED');
    expect(error.reasons).toContainEqual(
      expect.objectContaining({
        source: 'cloud_config',
        reason: expect.stringContaining('200 ms'),
      }),
    );
    expect(error.reasons).toContainEqual(
      expect.objectContaining({ source: 'ngrok', reason: expect.stringContaining('not tried') }),
    );
  });

  it('retries transient failures with jittered backoff and then succeeds', async () => {
    let lookups = 0;
    const lookup: LookupFunction = async (host) => {
      if (++lookups < 3)
        throw Object.assign(new Error(`getaddrinfo EAI_AGAIN ${host}`), { code: 'EAI_AGAIN' });
      return [{ address: '93.184.215.14', family: 4 }];
    };
    const { resolver } = setup({
      publicBaseUrl: 'https://gw.example.com',
      lookup,
      sources: ['cloud_config'],
      retry: { baseMs: 5, capMs: 10 },
    });
    await expect(resolver.resolve()).resolves.toMatchObject({ source: 'cloud_config' });
    expect(lookups).toBe(3);
  });

  it('gives up with WEBHOOK_URL_UNAVAILABLE after its retry budget', async () => {
    let lookups = 0;
    const lookup: LookupFunction = async () => {
      lookups++;
      throw Object.assign(new Error('EAI_AGAIN'), { code: 'EAI_AGAIN' });
    };
    const { resolver } = setup({
      publicBaseUrl: 'https://gw.example.com',
      lookup,
      sources: ['cloud_config'],
      retry: { attempts: 2, baseMs: 1, capMs: 2 },
    });
    const error = await failure(resolver.resolve());
    expect(error).toMatchObject({ code: 'WEBHOOK_URL_UNAVAILABLE', retryable: true });
    expect(lookups).toBe(3);
  });

  it('does not retry a configuration error: a refused authtoken is tried once', async () => {
    const ngrok = fakeNgrok();
    ngrok.next({
      error: ngrokSdkError(
        `failed to connect session: authentication failed: The authtoken you specified is properly formed, but it is invalid. Your authtoken: ${AUTHTOKEN} error_code: ERR_NGROK_107`,
      ),
    });
    const { resolver, audit, lines } = setup({
      sources: ['ngrok'],
      ngrok: { authtoken: AUTHTOKEN, forward: ngrok.forward },
      verify: 'syntax',
    });
    const error = await failure(resolver.resolve());
    expect(error.code).toBe('WEBHOOK_URL_NO_SOURCE');
    expect(error.reasons[0]).toMatchObject({ code: 'WEBHOOK_URL_NGROK_AUTH', retryable: false });
    expect(ngrok.calls).toHaveLength(1);
    expect(audit.ofType('tunnel.down')[0]?.data).toMatchObject({
      phase: 'start_failed',
      code: 'WEBHOOK_URL_NGROK_AUTH',
    });
    // ngrok echoes the authtoken in this message: it must reach neither logs, audit nor the error.
    expect(error.message).not.toContain(AUTHTOKEN);
    expect(lines.join('\n')).not.toContain(AUTHTOKEN);
    expect(JSON.stringify(audit.events)).not.toContain(AUTHTOKEN);
    expect(lines.length).toBeGreaterThan(0);
    await resolver.close();
  });

  it('never logs or audits the authtoken or the probe key on the success path', async () => {
    const ngrok = fakeNgrok();
    const probeKey = 'probe-key-that-must-stay-secret';
    const { resolver, audit, lines } = setup({
      ngrok: { authtoken: AUTHTOKEN, forward: ngrok.forward },
      probeKey,
      verify: 'syntax',
    });
    await resolver.resolve();
    await resolver.close();
    const everything = lines.join('\n') + JSON.stringify(audit.events);
    expect(everything).not.toContain(AUTHTOKEN);
    expect(everything).not.toContain(probeKey);
    expect(ngrok.calls[0]?.authtoken).toBe(AUTHTOKEN);
  });

  it('marks a plain-http URL insecure in the result, metrics, audit and a loud log line', async () => {
    const { resolver, audit, lines, registry } = setup({
      publicBaseUrl: 'http://dev-gw.example.com',
      allowInsecureHttp: true,
      lookup: staticLookup({ 'dev-gw.example.com': PUBLIC }),
    });
    await expect(resolver.resolve()).resolves.toMatchObject({ insecure: true });
    await resolver.resolve();
    expect(audit.ofType('webhook_url.resolved')[0]?.data.insecure).toBe(true);
    expect(await registry.metrics()).toMatch(/cbgw_webhook_url_insecure 1/);
    expect(
      lines.filter((line) => line.includes('"level":"warn"') && line.includes('INSECURE')),
    ).toHaveLength(2);
  });

  it('closes idempotently and refuses to resolve afterwards', async () => {
    const ngrok = fakeNgrok();
    const { resolver, audit } = setup({
      ngrok: { authtoken: AUTHTOKEN, forward: ngrok.forward },
      verify: 'syntax',
    });
    await resolver.resolve();
    await Promise.all([resolver.close(), resolver.close()]);
    await resolver.close();
    expect(ngrok.listeners[0]?.closed).toBe(true);
    expect(audit.ofType('tunnel.down').map((e) => e.data.phase)).toEqual(['closed']);
    expect(resolver.status().tunnel).toBe('closed');
    await expect(resolver.resolve()).rejects.toMatchObject({ code: 'WEBHOOK_URL_CLOSED' });
  });

  it('lets one caller stop waiting without cancelling the shared resolution', async () => {
    const lookup: LookupFunction = async () => {
      await new Promise((resolve) => setTimeout(resolve, 50));
      return [{ address: '93.184.215.14', family: 4 }];
    };
    const { resolver } = setup({ publicBaseUrl: 'https://gw.example.com', lookup });
    const impatient = resolver.resolve({ signal: AbortSignal.timeout(5) });
    const patient = resolver.resolve();
    await expect(impatient).rejects.toMatchObject({ code: 'WEBHOOK_URL_ABORTED' });
    await expect(patient).resolves.toMatchObject({ source: 'cloud_config' });
  });
});
