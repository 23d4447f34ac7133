import { backoffDelay, type BackoffOptions, type Clock } from '@callback-gateway/runtime';
import {
  WebhookUrlError,
  WebhookUrlResolveError,
  type SourceRefusal,
  type UrlSourceName,
} from './errors.js';
import type { WebhookUrlMetrics } from './metrics.js';
import { maskSecrets } from './ngrok-sdk.js';
import { verifyCandidate, type CandidateSource, type Verifier } from './sources.js';
import { raceSignal, sleep } from './timing.js';
import type { VerifiedBaseUrl } from './verify.js';

/** What the source step needs. */
export interface SourceRoundsOptions {
  /** The configured sources, in order. */
  order: readonly UrlSourceName[];
  candidates: Record<UrlSourceName, CandidateSource>;
  verify: Verifier;
  /** The resolve deadline (for messages: the signal enforces it). */
  deadlineMs: number;
  /** Rounds after the first for sources that failed transiently. */
  retryAttempts: number;
  retryBackoff: BackoffOptions;
  clock: Clock;
  random: () => number;
  metrics: WebhookUrlMetrics;
  /** Masked out of refusal reasons. */
  secrets: readonly (string | undefined)[];
}

/** A verified URL and the source that gave it. */
export interface FoundUrl {
  source: UrlSourceName;
  verified: VerifiedBaseUrl;
}

function toRefusal(
  source: UrlSourceName,
  error: unknown,
  secrets: readonly (string | undefined)[],
): SourceRefusal {
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
}

function refusalOutcome(refusal: SourceRefusal): 'not_configured' | 'failed' | 'refused' {
  if (refusal.code === 'WEBHOOK_URL_NOT_CONFIGURED') return 'not_configured';
  return refusal.retryable ? 'failed' : 'refused';
}

/**
 * The source step: tries the configured sources in order, each candidate verified, until one
 * gives a usable URL. Sources that failed transiently are tried again, in rounds with backoff,
 * until `signal` (the resolve deadline) aborts.
 * @throws WebhookUrlResolveError with each source's reason: `WEBHOOK_URL_NO_SOURCE` when none
 * can give a URL as configured, `WEBHOOK_URL_UNAVAILABLE` when the retries ran out,
 * `WEBHOOK_URL_DEADLINE_EXCEEDED` when the deadline passed
 */
export async function trySourcesInOrder(
  options: SourceRoundsOptions,
  signal: AbortSignal,
): Promise<FoundUrl> {
  const { order, candidates, verify, deadlineMs, metrics } = options;
  const reasons = new Map<UrlSourceName, SourceRefusal>();
  let pending: UrlSourceName[] = [...order];
  let current: UrlSourceName | undefined;

  const deadlineError = () => {
    for (const source of order) {
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

  for (let round = 0; ; round++) {
    const retryLater: UrlSourceName[] = [];
    for (const source of pending) {
      current = source;
      try {
        const verified = await raceSignal(
          candidates[source](signal).then((candidate) =>
            verifyCandidate(candidate, verify, signal),
          ),
          signal,
        );
        return { source, verified };
      } catch (error) {
        if (signal.aborted) throw deadlineError();
        const refusal = toRefusal(source, error, options.secrets);
        reasons.set(source, refusal);
        metrics.resolutions.inc({ source, outcome: refusalOutcome(refusal) });
        if (refusal.retryable) retryLater.push(source);
      }
    }
    current = undefined;
    if (retryLater.length === 0) {
      const nothing = [...reasons.values()].every((r) => r.code === 'WEBHOOK_URL_NOT_CONFIGURED');
      throw new WebhookUrlResolveError(
        'WEBHOOK_URL_NO_SOURCE',
        [...reasons.values()],
        nothing
          ? 'No source of a public base URL is configured: set PUBLIC_BASE_URL, or NGROK_AUTHTOKEN for a tunnel.'
          : 'No configured source gave a usable public base URL; fix the configuration named in the reasons.',
      );
    }
    if (round >= options.retryAttempts) {
      throw new WebhookUrlResolveError(
        'WEBHOOK_URL_UNAVAILABLE',
        [...reasons.values()],
        `No public base URL after ${round + 1} rounds of attempts; the failures look transient, retry later.`,
      );
    }
    try {
      await sleep(backoffDelay(round, options.retryBackoff, options.random), options.clock, signal);
    } catch {
      throw deadlineError();
    }
    pending = retryLater;
  }
}
