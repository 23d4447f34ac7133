/**
 * Every error this library raises carries one of these stable codes. Callers branch on `code`,
 * never on message text. Each code is documented in the README (a test checks both lists).
 */
export const WEBHOOK_URL_ERROR_CODES = [
  // Resolution as a whole.
  'WEBHOOK_URL_NO_SOURCE',
  'WEBHOOK_URL_UNAVAILABLE',
  'WEBHOOK_URL_DEADLINE_EXCEEDED',
  'WEBHOOK_URL_CLOSED',
  'WEBHOOK_URL_ABORTED',
  // Configuration.
  'WEBHOOK_URL_NOT_CONFIGURED',
  'WEBHOOK_URL_CONFIG_INVALID',
  'WEBHOOK_URL_PROBE_KEY_MISSING',
  // The public-URL policy (syntax).
  'WEBHOOK_URL_INVALID',
  'WEBHOOK_URL_SCHEME_NOT_ALLOWED',
  'WEBHOOK_URL_IP_LITERAL',
  'WEBHOOK_URL_LOCAL_HOST',
  'WEBHOOK_URL_RESERVED_NAME',
  'WEBHOOK_URL_HAS_CREDENTIALS',
  'WEBHOOK_URL_HAS_QUERY_OR_FRAGMENT',
  'WEBHOOK_URL_TOO_LONG',
  // Deeper verification.
  'WEBHOOK_URL_DNS_FAILED',
  'WEBHOOK_URL_PRIVATE_ADDRESS',
  'WEBHOOK_URL_PROBE_FAILED',
  'WEBHOOK_URL_PROBE_MISMATCH',
  // Sources.
  'WEBHOOK_URL_NGROK_AUTH',
  'WEBHOOK_URL_NGROK_REFUSED',
  'WEBHOOK_URL_NGROK_CONNECT',
  'WEBHOOK_URL_TUNNEL_DOWN',
  'WEBHOOK_URL_CACHE_MISS',
  'WEBHOOK_URL_CACHE_UNAVAILABLE',
  // Command line.
  'WEBHOOK_URL_USAGE',
] as const;

/** A stable error code of this library. */
export type WebhookUrlErrorCode = (typeof WEBHOOK_URL_ERROR_CODES)[number];

/** Where a resolution came from (the names used in results, audit events and metrics). */
export type UrlSourceName = 'cloud_config' | 'ngrok' | 'cache';

/** Options for {@link WebhookUrlError}. */
export interface WebhookUrlErrorOptions {
  /** The underlying error, passed through as `cause`. */
  cause?: unknown;
  /**
   * True when trying again later may succeed (network, DNS, tunnel reconnecting); false for
   * configuration errors and policy refusals.
   * @defaultValue false
   */
  retryable?: boolean;
  /** The HTTP status the gateway answers with when this error reaches a request. */
  httpStatus?: number;
}

/** The base class of every error of this library: a stable `code` and a message that says what
 * happened, why, and what to do next. */
export class WebhookUrlError extends Error {
  readonly code: WebhookUrlErrorCode;
  readonly retryable: boolean;
  readonly httpStatus: number | undefined;

  constructor(code: WebhookUrlErrorCode, message: string, options: WebhookUrlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WebhookUrlError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.httpStatus = options.httpStatus;
  }
}

/** Why one source could not give a usable URL. */
export interface SourceRefusal {
  source: UrlSourceName;
  code: WebhookUrlErrorCode;
  reason: string;
  /** Whether trying this source again later may succeed. */
  retryable: boolean;
}

/**
 * `resolve()` failed: no source gave a URL that passed the policy. `reasons` lists, per source
 * tried, why it was refused. The gateway answers 503 with it.
 */
export class WebhookUrlResolveError extends WebhookUrlError {
  readonly reasons: readonly SourceRefusal[];

  constructor(
    code: 'WEBHOOK_URL_NO_SOURCE' | 'WEBHOOK_URL_UNAVAILABLE' | 'WEBHOOK_URL_DEADLINE_EXCEEDED',
    reasons: readonly SourceRefusal[],
    detail: string,
  ) {
    const listed = reasons.map((r) => `${r.source}: ${r.code}: ${r.reason}`).join(' | ');
    super(code, `${detail}${listed ? ` Reasons: ${listed}` : ''}`, {
      retryable: code !== 'WEBHOOK_URL_NO_SOURCE',
      httpStatus: 503,
    });
    this.name = 'WebhookUrlResolveError';
    this.reasons = reasons;
  }
}

/** True when `error` is a {@link WebhookUrlError} (with a known code). */
export function isWebhookUrlError(error: unknown): error is WebhookUrlError {
  return error instanceof WebhookUrlError;
}

/** Turns anything thrown into a {@link WebhookUrlError}, keeping known ones as they are. */
export function toWebhookUrlError(
  error: unknown,
  fallback: WebhookUrlErrorCode,
  context: string,
  retryable = true,
): WebhookUrlError {
  if (error instanceof WebhookUrlError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new WebhookUrlError(fallback, `${context}: ${message}`, { cause: error, retryable });
}
