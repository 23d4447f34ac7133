import { WebhookUrlError, type UrlSourceName } from './errors.js';
import type { NgrokTunnel } from './ngrok-tunnel.js';
import type { WebhookUrlResolverOptions } from './resolver-options.js';
import type { UrlCache } from './url-cache.js';
import { verifyPublicBaseUrl, type VerificationDepth, type VerifiedBaseUrl } from './verify.js';

/** What a source attempt yields: a verified URL (the resolver adds source and time). */
export type SourceAttempt = (signal: AbortSignal) => Promise<VerifiedBaseUrl>;

/** The verification depth configured for a source, if any. */
export function configuredDepth(
  verify: WebhookUrlResolverOptions['verify'],
  source: UrlSourceName,
): VerificationDepth | undefined {
  return typeof verify === 'string' ? verify : verify?.[source];
}

function notConfigured(what: string): WebhookUrlError {
  return new WebhookUrlError('WEBHOOK_URL_NOT_CONFIGURED', `not configured: ${what}`);
}

function probeKeyMissing(source: UrlSourceName): WebhookUrlError {
  return new WebhookUrlError(
    'WEBHOOK_URL_PROBE_KEY_MISSING',
    `The ${source} source verifies by probe, and no probe key is configured: set WEBHOOK_URL_PROBE_KEY (the same value in the gateway), or set WEBHOOK_URL_VERIFY=dns.`,
  );
}

/** Dependencies of the source attempts. */
export interface SourceContext {
  options: WebhookUrlResolverOptions;
  tunnel: NgrokTunnel | undefined;
  cache: UrlCache | undefined;
  verify: (url: string, depth: VerificationDepth, signal: AbortSignal) => Promise<VerifiedBaseUrl>;
}

/** Builds the verify function shared by sources and the tunnel's health check. */
export function verifierFor(options: WebhookUrlResolverOptions): SourceContext['verify'] {
  return (url, depth, signal) =>
    verifyPublicBaseUrl(url, {
      depth,
      signal,
      ...(options.allowInsecureHttp ? { allowInsecureHttp: true } : {}),
      ...(options.callbackPathReserve !== undefined
        ? { callbackPathReserve: options.callbackPathReserve }
        : {}),
      ...(options.lookup ? { lookup: options.lookup } : {}),
      ...(options.probeKey ? { probeKey: options.probeKey } : {}),
      ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    });
}

/** One attempt function per source name. */
export function createSourceAttempts(ctx: SourceContext): Record<UrlSourceName, SourceAttempt> {
  const { options, tunnel, cache, verify } = ctx;
  return {
    async cloud_config(signal) {
      if (!options.publicBaseUrl) {
        throw notConfigured('set PUBLIC_BASE_URL to the public https URL of the gateway.');
      }
      return verify(
        options.publicBaseUrl,
        configuredDepth(options.verify, 'cloud_config') ?? 'dns',
        signal,
      );
    },
    async ngrok(signal) {
      if (!tunnel) {
        throw notConfigured('set NGROK_AUTHTOKEN to open an ngrok tunnel to the gateway.');
      }
      const depth = configuredDepth(options.verify, 'ngrok') ?? 'probe';
      // Checked before a tunnel is opened: a configuration error must not cost a session.
      if (depth === 'probe' && !options.probeKey) throw probeKeyMissing('ngrok');
      const url = await tunnel.ensureUrl(signal);
      return verify(url, depth, signal);
    },
    async cache(signal) {
      if (!cache) {
        throw notConfigured('no Redis connection was given (set REDIS_URL in the apps).');
      }
      const entry = await cache.read(signal);
      const depth =
        configuredDepth(options.verify, 'cache') ?? (entry.source === 'ngrok' ? 'probe' : 'dns');
      if (depth === 'probe' && !options.probeKey) {
        await cache.forget(entry.baseUrl, signal).catch(() => undefined);
        throw probeKeyMissing('cache');
      }
      try {
        return await verify(entry.baseUrl, depth, signal);
      } catch (error) {
        if (signal.aborted || !(error instanceof WebhookUrlError)) throw error;
        // Never serve, nor keep, an entry that fails re-verification for good.
        if (!error.retryable) await cache.forget(entry.baseUrl, signal).catch(() => undefined);
        throw new WebhookUrlError(
          error.code,
          `the cached URL ${entry.baseUrl} failed re-verification${error.retryable ? '' : ' and was deleted'}: ${error.message}`,
          { retryable: error.retryable, cause: error },
        );
      }
    },
  };
}
