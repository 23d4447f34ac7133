import { backoffDelay, systemClock, type BackoffOptions } from '@callback-gateway/runtime';
import {
  WebhookUrlError,
  WebhookUrlResolveError,
  type SourceRefusal,
  type UrlSourceName,
} from './errors.js';
import { createWebhookUrlMetrics, type TunnelState } from './metrics.js';
import { loadNgrokSdk, maskSecrets } from './ngrok-sdk.js';
import { createNgrokTunnel, type NgrokTunnel } from './ngrok-tunnel.js';
import {
  URL_SOURCES,
  type WebhookUrlResolution,
  type WebhookUrlResolver,
  type WebhookUrlResolverOptions,
} from './resolver-options.js';
import { createSourceAttempts, verifierFor } from './sources.js';
import { deadlineController, raceSignal, sleep } from './timing.js';
import { DEFAULT_CACHE_KEY, createUrlCache } from './url-cache.js';

const DEADLINE = Symbol('deadline');

function gatewayAddr(host: string | undefined, port: number): string {
  const bind = host && host !== '0.0.0.0' && host !== '::' ? host : '127.0.0.1';
  return `${bind.includes(':') ? `[${bind}]` : bind}:${port}`;
}

/**
 * Creates the resolver: `resolve()` gives a verified public base URL from the configured
 * sources in order, or throws one {@link WebhookUrlResolveError} listing why each source was
 * refused. It never returns a default URL, never waits past its deadline, retries transient
 * failures with capped, jittered backoff, and shares one resolution between concurrent callers.
 */
export function createWebhookUrlResolver(options: WebhookUrlResolverOptions): WebhookUrlResolver {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const { audit, logger } = options;
  const sources = options.sources ?? URL_SOURCES;
  const deadlineMs = options.deadlineMs ?? 10_000;
  const revalidateAfterMs = options.revalidateAfterMs ?? 60_000;
  const retryAttempts = options.retry?.attempts ?? 3;
  const retryBackoff: BackoffOptions = {
    baseMs: options.retry?.baseMs ?? 200,
    capMs: options.retry?.capMs ?? 2_000,
    jitter: 'full',
  };
  const closeTimeoutMs = options.closeTimeoutMs ?? 2_000;
  const secrets = [options.ngrok?.authtoken, options.probeKey];
  const metrics = createWebhookUrlMetrics(options.registry);
  const verify = verifierFor(options);

  let memo: { resolution: WebhookUrlResolution; at: number } | undefined;
  let announcedUrl: string | undefined;
  let inflight: Promise<WebhookUrlResolution> | undefined;
  let lastFailure: { code: string; message: string; at: Date } | undefined;
  let closed = false;
  let closePromise: Promise<void> | undefined;

  const announceChange = (oldUrl: string, newUrl: string, source: UrlSourceName) => {
    audit.record({
      type: 'webhook_url.changed',
      data: { old_url: oldUrl, new_url: newUrl, source },
    });
    metrics.urlChanges.inc({ source });
    logger.warn({ oldUrl, newUrl, source }, `public base URL changed from ${oldUrl} to ${newUrl}`);
    announcedUrl = newUrl;
  };

  const ngrokOptions = options.ngrok ?? {};
  let tunnel: NgrokTunnel | undefined;
  if (sources.includes('ngrok') && ngrokOptions.authtoken) {
    const injected = ngrokOptions.forward;
    tunnel = createNgrokTunnel({
      forward: injected
        ? () => Promise.resolve(injected)
        : async () => (await loadNgrokSdk()).forward,
      disconnect: ngrokOptions.disconnect
        ? () =>
            Promise.resolve(ngrokOptions.disconnect as NonNullable<typeof ngrokOptions.disconnect>)
        : injected
          ? undefined
          : async () => (await loadNgrokSdk()).disconnect,
      authtoken: ngrokOptions.authtoken,
      domain: ngrokOptions.domain,
      serverAddr: ngrokOptions.serverAddr,
      addr: gatewayAddr(options.gatewayHost, options.gatewayPort ?? 8080),
      connectTimeoutMs: ngrokOptions.connectTimeoutMs ?? deadlineMs,
      healthIntervalMs: ngrokOptions.healthIntervalMs ?? 30_000,
      unhealthyThreshold: ngrokOptions.unhealthyThreshold ?? 2,
      reconnectBackoff: ngrokOptions.reconnectBackoff ?? { baseMs: 1_000, capMs: 60_000 },
      closeTimeoutMs,
      healthCheck: async (url, signal) => {
        await verify(
          url,
          (typeof options.verify === 'string' ? options.verify : options.verify?.ngrok) ?? 'probe',
          signal,
        );
      },
      onUrlChanged: (oldUrl, newUrl) => announceChange(oldUrl, newUrl, 'ngrok'),
      clock,
      random,
      audit,
      logger,
      metrics,
      secrets,
    });
    tunnel.onStatusChange((state) => {
      // A tunnel that is not up invalidates a URL it gave; so does a new URL.
      if (
        memo?.resolution.source === 'ngrok' &&
        (state !== 'up' || memo.resolution.baseUrl !== tunnel?.url)
      ) {
        memo = undefined;
      }
    });
  }
  const cache = options.redis
    ? createUrlCache(
        options.redis,
        options.cacheKey ?? DEFAULT_CACHE_KEY,
        options.cacheTtlSeconds ?? 86_400,
      )
    : undefined;
  const attempts = createSourceAttempts({ options, tunnel, cache, verify });

  const toRefusal = (source: UrlSourceName, error: unknown): SourceRefusal => {
    const typed =
      error instanceof WebhookUrlError
        ? error
        : new WebhookUrlError(
            'WEBHOOK_URL_UNAVAILABLE',
            String(error instanceof Error ? error.message : error),
            { retryable: true },
          );
    return {
      source,
      code: typed.code,
      reason: maskSecrets(typed.message, secrets),
      retryable: typed.retryable,
    };
  };

  const succeed = async (
    source: UrlSourceName,
    verified: Awaited<ReturnType<(typeof attempts)['cloud_config']>>,
    started: number,
    signal: AbortSignal,
  ): Promise<WebhookUrlResolution> => {
    const resolution: WebhookUrlResolution = {
      baseUrl: verified.baseUrl,
      source,
      verifiedBy: verified.verifiedBy,
      resolvedAt: new Date(clock.now()),
      insecure: verified.insecure,
    };
    const durationMs = Math.max(0, clock.now() - started);
    memo = { resolution, at: clock.now() };
    if (announcedUrl && announcedUrl !== resolution.baseUrl)
      announceChange(announcedUrl, resolution.baseUrl, source);
    announcedUrl = resolution.baseUrl;
    metrics.resolutions.inc({ source, outcome: 'success' });
    metrics.duration.observe({ outcome: 'success' }, durationMs / 1000);
    metrics.insecure.set(resolution.insecure ? 1 : 0);
    audit.record({
      type: 'webhook_url.resolved',
      data: {
        base_url: resolution.baseUrl,
        source,
        verified_by: resolution.verifiedBy,
        insecure: resolution.insecure,
        duration_ms: durationMs,
      },
    });
    logger.info(
      { baseUrl: resolution.baseUrl, source, verifiedBy: resolution.verifiedBy, durationMs },
      `public base URL resolved from ${source}`,
    );
    if (cache && source !== 'cache') {
      const entry = {
        baseUrl: resolution.baseUrl,
        source,
        verifiedBy: resolution.verifiedBy,
        insecure: resolution.insecure,
        resolvedAt: resolution.resolvedAt.toISOString(),
      };
      await cache
        .write(entry, AbortSignal.any([signal, AbortSignal.timeout(500)]))
        .catch((error: unknown) =>
          logger.warn(
            { code: (error as { code?: unknown }).code },
            'could not store the resolved URL in the cache; resolution continues',
          ),
        );
    }
    return resolution;
  };

  const fail = (
    error: WebhookUrlResolveError,
    started: number,
    purpose: string | undefined,
  ): never => {
    const durationMs = Math.max(0, clock.now() - started);
    lastFailure = { code: error.code, message: error.message, at: new Date(clock.now()) };
    metrics.resolutions.inc({ source: 'none', outcome: 'failure' });
    metrics.duration.observe({ outcome: 'failure' }, durationMs / 1000);
    audit.record({
      type: 'webhook_url.refused',
      data: {
        reasons: error.reasons
          .slice(0, 20)
          .map((r) => ({ source: r.source, code: r.code, reason: r.reason.slice(0, 2000) })),
        duration_ms: durationMs,
        ...(purpose ? { purpose } : {}),
      },
    });
    logger.error(
      { code: error.code, reasons: error.reasons },
      `no public base URL: ${error.message}`,
    );
    throw error;
  };

  const resolveFresh = async (purpose: string | undefined): Promise<WebhookUrlResolution> => {
    const started = clock.now();
    const deadline = deadlineController(deadlineMs, clock, () => DEADLINE);
    const { signal } = deadline;
    const reasons = new Map<UrlSourceName, SourceRefusal>();
    let pending: UrlSourceName[] = [...sources];
    let current: UrlSourceName | undefined;
    const deadlineError = () => {
      for (const source of sources) {
        if (reasons.has(source) && source !== current) continue;
        reasons.set(source, {
          source,
          code: 'WEBHOOK_URL_DEADLINE_EXCEEDED',
          reason:
            source === current
              ? `no answer within the ${deadlineMs} ms deadline`
              : 'not tried: the deadline passed first',
          retryable: true,
        });
      }
      return new WebhookUrlResolveError(
        'WEBHOOK_URL_DEADLINE_EXCEEDED',
        [...reasons.values()],
        `No public base URL within the ${deadlineMs} ms deadline (WEBHOOK_URL_DEADLINE_MS); retry later.`,
      );
    };
    try {
      for (let round = 0; ; round++) {
        const retryLater: UrlSourceName[] = [];
        for (const source of pending) {
          current = source;
          try {
            const verified = await raceSignal(attempts[source](signal), signal);
            return await succeed(source, verified, started, signal);
          } catch (error) {
            if (signal.aborted) return fail(deadlineError(), started, purpose);
            const refusal = toRefusal(source, error);
            reasons.set(source, refusal);
            const outcome =
              refusal.code === 'WEBHOOK_URL_NOT_CONFIGURED'
                ? 'not_configured'
                : refusal.retryable
                  ? 'failed'
                  : 'refused';
            metrics.resolutions.inc({ source, outcome });
            if (refusal.retryable) retryLater.push(source);
          }
        }
        current = undefined;
        if (retryLater.length === 0) {
          const nothing = [...reasons.values()].every(
            (r) => r.code === 'WEBHOOK_URL_NOT_CONFIGURED',
          );
          return fail(
            new WebhookUrlResolveError(
              'WEBHOOK_URL_NO_SOURCE',
              [...reasons.values()],
              nothing
                ? 'No source of a public base URL is configured: set PUBLIC_BASE_URL, or NGROK_AUTHTOKEN for a tunnel.'
                : 'No configured source gave a usable public base URL; fix the configuration named in the reasons.',
            ),
            started,
            purpose,
          );
        }
        if (round >= retryAttempts) {
          return fail(
            new WebhookUrlResolveError(
              'WEBHOOK_URL_UNAVAILABLE',
              [...reasons.values()],
              `No public base URL after ${round + 1} rounds of attempts; the failures look transient, retry later.`,
            ),
            started,
            purpose,
          );
        }
        try {
          await sleep(backoffDelay(round, retryBackoff, random), clock, signal);
        } catch {
          return fail(deadlineError(), started, purpose);
        }
        pending = retryLater;
      }
    } finally {
      deadline.dispose();
    }
  };

  const usableMemo = (): WebhookUrlResolution | undefined => {
    if (!memo) return undefined;
    if (memo.resolution.source === 'ngrok' && tunnel?.url !== memo.resolution.baseUrl) {
      memo = undefined;
      return undefined;
    }
    return memo.resolution;
  };

  return {
    resolve(resolveOptions = {}) {
      if (closed) {
        return Promise.reject(
          new WebhookUrlError(
            'WEBHOOK_URL_CLOSED',
            'The webhook URL resolver is closed; create a new one.',
          ),
        );
      }
      const remembered = resolveOptions.fresh ? undefined : usableMemo();
      if (remembered && memo && clock.now() - memo.at < revalidateAfterMs) {
        metrics.resolutions.inc({ source: remembered.source, outcome: 'memoized' });
        if (remembered.insecure)
          logger.warn(
            { baseUrl: remembered.baseUrl },
            `INSECURE: serving plain-http callback base URL ${remembered.baseUrl} (WEBHOOK_URL_ALLOW_INSECURE_HTTP is on; never use this in production)`,
          );
        return Promise.resolve(remembered);
      }
      inflight ??= resolveFresh(resolveOptions.purpose)
        .then((resolution) => {
          if (resolution.insecure)
            logger.warn(
              { baseUrl: resolution.baseUrl },
              `INSECURE: serving plain-http callback base URL ${resolution.baseUrl} (WEBHOOK_URL_ALLOW_INSECURE_HTTP is on; never use this in production)`,
            );
          return resolution;
        })
        .finally(() => {
          inflight = undefined;
        });
      const { signal } = resolveOptions;
      if (!signal) return inflight;
      return raceSignal(inflight, signal).catch((error: unknown) => {
        if (!signal.aborted || error instanceof WebhookUrlError) throw error;
        throw new WebhookUrlError(
          'WEBHOOK_URL_ABORTED',
          'The caller stopped waiting for the public base URL (its signal aborted); the shared resolution goes on for other callers.',
          { cause: error },
        );
      });
    },
    current: usableMemo,
    status() {
      return { tunnel: tunnel?.state ?? 'idle', current: usableMemo(), lastFailure };
    },
    onStatusChange(listener: (state: TunnelState, previous: TunnelState) => void) {
      return tunnel ? tunnel.onStatusChange(listener) : () => undefined;
    },
    close() {
      closePromise ??= (async () => {
        closed = true;
        memo = undefined;
        metrics.insecure.set(0);
        if (tunnel) {
          await raceSignal(tunnel.close(), AbortSignal.timeout(closeTimeoutMs)).catch(
            (error: unknown) =>
              logger.warn(
                { err: error },
                `closing the ngrok tunnel did not finish within ${closeTimeoutMs} ms`,
              ),
          );
        }
      })();
      return closePromise;
    },
  };
}
