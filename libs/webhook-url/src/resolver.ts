import { systemClock } from '@callback-gateway/runtime';
import { WebhookUrlError, WebhookUrlResolveError } from './errors.js';
import { createWebhookUrlMetrics, type TunnelState } from './metrics.js';
import { createResolutionMemory } from './resolution-memory.js';
import { reportRefused, reportResolved, warnIfInsecure } from './resolution-report.js';
import {
  URL_SOURCES,
  type WebhookUrlResolution,
  type WebhookUrlResolver,
  type WebhookUrlResolverOptions,
} from './resolver-options.js';
import { closeTunnel, createResolverTunnel } from './resolver-tunnel.js';
import { trySourcesInOrder, type FoundUrl, type SourceRoundsOptions } from './source-rounds.js';
import { createCandidateSources, verifierFor } from './sources.js';
import { deadlineController, raceSignal } from './timing.js';
import { DEFAULT_CACHE_KEY, createUrlCache } from './url-cache.js';

const DEADLINE = Symbol('deadline');

/**
 * Creates the resolver: `resolve()` gives a verified public base URL from the configured
 * sources in order, or throws one {@link WebhookUrlResolveError} listing why each source was
 * refused. It never returns a default URL, never waits past its deadline, retries transient
 * failures with capped, jittered backoff, and shares one resolution between concurrent callers.
 *
 * One resolution, step by step: the remembered one while it is recent (`memory.recent`); else
 * the sources in order, each one's candidate verified ({@link trySourcesInOrder}); then the URL
 * found is remembered, reported and shared through the Redis cache (`adopt`), or the refusal
 * is reported (`refuse`).
 */
export function createWebhookUrlResolver(options: WebhookUrlResolverOptions): WebhookUrlResolver {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const { audit, logger } = options;
  const deadlineMs = options.deadlineMs ?? 10_000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 2_000;
  const secrets = [options.ngrok?.authtoken, options.probeKey];
  const metrics = createWebhookUrlMetrics(options.registry);
  const verify = verifierFor(options);
  const cache = options.redis
    ? createUrlCache(
        options.redis,
        options.cacheKey ?? DEFAULT_CACHE_KEY,
        options.cacheTtlSeconds ?? 86_400,
      )
    : undefined;

  const memory = createResolutionMemory({
    revalidateAfterMs: options.revalidateAfterMs ?? 60_000,
    cache,
    clock,
    audit,
    logger,
    metrics,
  });
  const tunnel = createResolverTunnel(options, {
    verify,
    deadlineMs,
    closeTimeoutMs,
    onUrlChanged: (oldUrl, newUrl) => memory.announceChange(oldUrl, newUrl, 'ngrok'),
    clock,
    random,
    audit,
    logger,
    metrics,
    secrets,
  });
  // The tunnel's first listener: those of callers, added later, already see a URL it dropped.
  if (tunnel) memory.follow(tunnel);

  const sourceRounds: SourceRoundsOptions = {
    order: options.sources ?? URL_SOURCES,
    candidates: createCandidateSources({ options, tunnel, cache }),
    verify,
    deadlineMs,
    retryAttempts: options.retry?.attempts ?? 3,
    retryBackoff: {
      baseMs: options.retry?.baseMs ?? 200,
      capMs: options.retry?.capMs ?? 2_000,
      jitter: 'full',
    },
    clock,
    random,
    metrics,
    secrets,
  };

  let inflight: Promise<WebhookUrlResolution> | undefined;
  let lastFailure: { code: string; message: string; at: Date } | undefined;
  let closed = false;
  let closePromise: Promise<void> | undefined;

  const adopt = async (
    { source, verified }: FoundUrl,
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
    memory.remember(resolution);
    reportResolved({ audit, logger, metrics }, resolution, durationMs);
    await memory.share(resolution, signal);
    return resolution;
  };

  const refuse = (error: WebhookUrlResolveError, started: number, purpose: string | undefined) => {
    const durationMs = Math.max(0, clock.now() - started);
    lastFailure = { code: error.code, message: error.message, at: new Date(clock.now()) };
    reportRefused({ audit, logger, metrics }, error, durationMs, purpose);
  };

  const resolveFresh = async (purpose: string | undefined): Promise<WebhookUrlResolution> => {
    const started = clock.now();
    const deadline = deadlineController(deadlineMs, clock, () => DEADLINE);
    try {
      let found: FoundUrl;
      try {
        found = await trySourcesInOrder(sourceRounds, deadline.signal);
      } catch (error) {
        if (error instanceof WebhookUrlResolveError) refuse(error, started, purpose);
        throw error;
      }
      return await adopt(found, started, deadline.signal);
    } finally {
      deadline.dispose();
    }
  };

  /** Waits for the shared resolution until the caller's own signal aborts. */
  const waitFor = (shared: Promise<WebhookUrlResolution>, signal: AbortSignal | undefined) => {
    if (!signal) return shared;
    return raceSignal(shared, signal).catch((error: unknown) => {
      if (!signal.aborted || error instanceof WebhookUrlError) throw error;
      throw new WebhookUrlError(
        'WEBHOOK_URL_ABORTED',
        'The caller stopped waiting for the public base URL (its signal aborted); the shared resolution goes on for other callers.',
        { cause: error },
      );
    });
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
      const recent = resolveOptions.fresh ? undefined : memory.recent();
      if (recent) {
        metrics.resolutions.inc({ source: recent.source, outcome: 'memoized' });
        warnIfInsecure(logger, recent);
        return Promise.resolve(recent);
      }
      inflight ??= resolveFresh(resolveOptions.purpose)
        .then((resolution) => {
          warnIfInsecure(logger, resolution);
          return resolution;
        })
        .finally(() => {
          inflight = undefined;
        });
      return waitFor(inflight, resolveOptions.signal);
    },
    current: () => memory.current(),
    status() {
      return { tunnel: tunnel?.state ?? 'idle', current: memory.current(), lastFailure };
    },
    onStatusChange(listener: (state: TunnelState, previous: TunnelState) => void) {
      return tunnel ? tunnel.onStatusChange(listener) : () => undefined;
    },
    close() {
      closePromise ??= (async () => {
        closed = true;
        memory.forget();
        metrics.insecure.set(0);
        if (tunnel) await closeTunnel(tunnel, closeTimeoutMs, logger);
      })();
      return closePromise;
    },
  };
}
