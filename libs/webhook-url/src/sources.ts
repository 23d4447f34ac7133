import { WebhookUrlError, type UrlSourceName } from './errors.js';
import type { NgrokTunnel } from './ngrok-tunnel.js';
import type { WebhookUrlResolverOptions } from './resolver-options.js';
import type { UrlCache } from './url-cache.js';
import { verifyPublicBaseUrl, type VerificationDepth, type VerifiedBaseUrl } from './verify.js';

/** Verifies a URL at a depth: the check shared by the sources and the tunnel's health check. */
export type Verifier = (
  url: string,
  depth: VerificationDepth,
  signal: AbortSignal,
) => Promise<VerifiedBaseUrl>;

/** A URL a source offers, and the depth it must be verified to before it is handed out. */
export interface Candidate {
  url: string;
  depth: VerificationDepth;
  /**
   * Turns a failed verification into the source's own refusal.
   * @defaultValue the verification's error as it is
   */
  refused?: (error: WebhookUrlError, signal: AbortSignal) => Promise<WebhookUrlError>;
}

/** Where a source finds its candidate; rejects with a `WebhookUrlError` when it has none. */
export type CandidateSource = (signal: AbortSignal) => Promise<Candidate>;

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

/** What the sources draw on. */
export interface SourceContext {
  options: WebhookUrlResolverOptions;
  tunnel: NgrokTunnel | undefined;
  cache: UrlCache | undefined;
}

/** Builds the {@link Verifier} of the resolver's options. */
export function verifierFor(options: WebhookUrlResolverOptions): Verifier {
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

/** One {@link CandidateSource} per source name. */
export function createCandidateSources(ctx: SourceContext): Record<UrlSourceName, CandidateSource> {
  const { options, tunnel, cache } = ctx;
  return {
    async cloud_config() {
      if (!options.publicBaseUrl) {
        throw notConfigured('set PUBLIC_BASE_URL to the public https URL of the gateway.');
      }
      return {
        url: options.publicBaseUrl,
        depth: configuredDepth(options.verify, 'cloud_config') ?? 'dns',
      };
    },
    async ngrok(signal) {
      if (!tunnel) {
        throw notConfigured('set NGROK_AUTHTOKEN to open an ngrok tunnel to the gateway.');
      }
      const depth = configuredDepth(options.verify, 'ngrok') ?? 'probe';
      // Checked before a tunnel is opened: a configuration error must not cost a session.
      if (depth === 'probe' && !options.probeKey) throw probeKeyMissing('ngrok');
      return { url: await tunnel.ensureUrl(signal), depth };
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
      return {
        url: entry.baseUrl,
        depth,
        async refused(error, refusedSignal) {
          // Never serve, nor keep, an entry that fails re-verification for good.
          if (!error.retryable) {
            await cache.forget(entry.baseUrl, refusedSignal).catch(() => undefined);
          }
          return new WebhookUrlError(
            error.code,
            `the cached URL ${entry.baseUrl} failed re-verification${error.retryable ? '' : ' and was deleted'}: ${error.message}`,
            { retryable: error.retryable, cause: error },
          );
        },
      };
    },
  };
}

/** Verifies a source's candidate; a failure becomes that source's refusal. */
export async function verifyCandidate(
  candidate: Candidate,
  verify: Verifier,
  signal: AbortSignal,
): Promise<VerifiedBaseUrl> {
  try {
    return await verify(candidate.url, candidate.depth, signal);
  } catch (error) {
    if (!candidate.refused || signal.aborted || !(error instanceof WebhookUrlError)) throw error;
    throw await candidate.refused(error, signal);
  }
}
