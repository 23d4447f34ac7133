import type { AuditLog, Logger } from '@callback-gateway/audit';
import { backoffDelay, type SupervisedRedis } from '@callback-gateway/runtime';
import {
  createWebhookUrlResolver,
  resolverOptionsFromEnv,
  sharedProbeKey,
  type WebhookUrlEnv,
  type WebhookUrlEnvDeps,
  type WebhookUrlResolver,
} from '@callback-gateway/webhook-url';
import type { Registry } from 'prom-client';

/** Options for {@link startPublicUrlResolver}. */
export interface PublicUrlResolverOptions {
  /** The process's settings, as the resolver reads them (`WEBHOOK_URL_*`, `NGROK_*`, ...). */
  settings: WebhookUrlEnv;
  /** A fail-fast connection (borrowed): the shared probe key and the URL cache live there. */
  redis: SupervisedRedis;
  audit: AuditLog;
  logger: Logger;
  registry: Registry;
  /** The resolver's outside world (the ngrok SDK, DNS, the probes' dispatcher). */
  deps?: Pick<WebhookUrlEnvDeps, 'ngrok' | 'lookup' | 'dispatcher' | 'callbackPathReserve'>;
  /** Called once, when the resolver exists (before any resolution). */
  onCreated?: (resolver: WebhookUrlResolver) => void | Promise<void>;
}

/** A resolver that starts once Redis is reachable. */
export interface StartingPublicUrlResolver {
  /** The resolver, once it exists. */
  current(): WebhookUrlResolver | undefined;
  /** The probe key in use: configured, or shared through Redis once it was read there. */
  probeKey(): string | undefined;
  /** Stops waiting for Redis, then closes the resolver (and the tunnel it opened). Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the public URL resolver as soon as Redis answers: the probe key the gateway and the
 * worker verify with is shared there (unless configured), and the URL cache lives there. Until
 * then the process runs without one (readiness says why). Closing while Redis is away returns
 * at once.
 */
export function startPublicUrlResolver(
  options: PublicUrlResolverOptions,
): StartingPublicUrlResolver {
  const { settings, redis } = options;
  const stopping = new AbortController();
  let probeKey = settings.WEBHOOK_URL_PROBE_KEY;
  let resolver: WebhookUrlResolver | undefined;

  const started = (async () => {
    for (let attempt = 1; !stopping.signal.aborted; attempt++) {
      try {
        await redis.waitUntilReady(stopping.signal);
        probeKey = await sharedProbeKey(redis.client, settings.WEBHOOK_URL_PROBE_KEY);
        break;
      } catch {
        await waitOrStop(
          backoffDelay(attempt, { baseMs: 100, capMs: 5_000, jitter: 'equal' }),
          stopping.signal,
        );
      }
    }
    if (stopping.signal.aborted || !probeKey) return;
    resolver = createWebhookUrlResolver(
      resolverOptionsFromEnv(
        { ...settings, WEBHOOK_URL_PROBE_KEY: probeKey },
        {
          ...options.deps,
          redis: redis.client,
          audit: options.audit,
          logger: options.logger,
          registry: options.registry,
        },
      ),
    );
    await options.onCreated?.(resolver);
  })().catch((error: unknown) => {
    // Settings the resolver refuses were checked at start-up: this is a bug, said once.
    options.logger.error(
      { err: error },
      `the public URL resolver could not start: ${error instanceof Error ? error.message : String(error)}`,
    );
  });

  let closing: Promise<void> | undefined;
  return {
    current: () => resolver,
    probeKey: () => probeKey,
    close() {
      closing ??= (async () => {
        stopping.abort();
        await started;
        await resolver?.close();
      })();
      return closing;
    },
  };
}

/** Waits `ms`, or less when `signal` aborts first. */
function waitOrStop(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
