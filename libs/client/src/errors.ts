/**
 * Every error the gateway calls (`register`, `attachJob`, `status`) raise carries one of these
 * stable codes. Callers branch on `code`, never on message text. Each code is documented in the
 * README (a test checks both lists).
 */
export const GATEWAY_CLIENT_ERROR_CODES = [
  // The gateway answered with an error.
  'GATEWAY_UNAUTHORIZED',
  'GATEWAY_INVALID_REQUEST',
  'GATEWAY_DESTINATION_REFUSED',
  'GATEWAY_NOT_FOUND',
  'GATEWAY_CONFLICT',
  'GATEWAY_RATE_LIMITED',
  'GATEWAY_REQUEST_REJECTED',
  'GATEWAY_WEBHOOK_URL_UNAVAILABLE',
  'GATEWAY_UNAVAILABLE',
  'GATEWAY_SERVER_ERROR',
  // The gateway answered something that is not the documented shape.
  'GATEWAY_BAD_RESPONSE',
  // No answer.
  'GATEWAY_NETWORK',
  'GATEWAY_TIMEOUT',
  'GATEWAY_ABORTED',
  // The caller's own mistake, found before any request.
  'GATEWAY_CLIENT_USAGE',
] as const;

/** A stable error code of the gateway calls. */
export type GatewayClientErrorCode = (typeof GATEWAY_CLIENT_ERROR_CODES)[number];

/**
 * Every error `verifyDelivery` raises carries one of these stable codes (documented in the README,
 * checked by a test). All of them mean: do not process this delivery; answer 4xx.
 */
export const DELIVERY_VERIFICATION_ERROR_CODES = [
  'DELIVERY_HEADERS_MISSING',
  'DELIVERY_HEADERS_INVALID',
  'DELIVERY_TIMESTAMP_OUT_OF_TOLERANCE',
  'DELIVERY_SIGNATURE_INVALID',
  'DELIVERY_SECRET_INVALID',
  'DELIVERY_BODY_INVALID',
] as const;

/** A stable error code of `verifyDelivery`. */
export type DeliveryVerificationErrorCode = (typeof DELIVERY_VERIFICATION_ERROR_CODES)[number];

/** Why one source of public callback URLs could not give one (from a 503 `webhook_url_unavailable`). */
export interface WebhookUrlRefusal {
  /** The source tried, e.g. `cloud_config`, `ngrok`, `cache`. */
  source: string;
  /** The gateway's code for the refusal, e.g. `WEBHOOK_URL_NOT_CONFIGURED`. */
  code: string;
  /** A human sentence. */
  reason: string;
}

/** Options for {@link GatewayClientError}. */
export interface GatewayClientErrorOptions {
  /** The underlying error, passed through as `cause`. */
  cause?: unknown;
  /** The HTTP status the gateway answered with, when it answered. */
  status?: number;
  /** The gateway's own snake_case error code (`error` in its JSON body), when it sent one. */
  serverError?: string;
  /** The gateway's human sentence (`message` in its JSON body), when it sent one. */
  serverMessage?: string;
  /** Per-source reasons of a 503 `webhook_url_unavailable`. */
  reasons?: readonly WebhookUrlRefusal[];
  /** Seconds the gateway asked to wait (`Retry-After`), when it sent the header. */
  retryAfterSeconds?: number;
  /** The rest of the gateway's error body (`issues`, `code`, ...), as sent. */
  details?: Readonly<Record<string, unknown>>;
  /**
   * True when the same call may succeed later (network, timeout, 429, 5xx).
   * @defaultValue false
   */
  retryable?: boolean;
}

/**
 * The error of every gateway call. The client never retries by itself: use `retryable` and
 * `retryAfterSeconds` to decide. The bearer token never appears in it.
 */
export class GatewayClientError extends Error {
  /** Stable code to branch on. */
  readonly code: GatewayClientErrorCode;
  /** HTTP status of the gateway's answer; undefined when there was none. */
  readonly status: number | undefined;
  /** The gateway's snake_case error code (e.g. `destination_refused`). */
  readonly serverError: string | undefined;
  /** The gateway's own human sentence. */
  readonly serverMessage: string | undefined;
  /** Per-source reasons when no public callback URL was available. */
  readonly reasons: readonly WebhookUrlRefusal[] | undefined;
  /** Seconds to wait before trying again, from `Retry-After`. */
  readonly retryAfterSeconds: number | undefined;
  /** The rest of the gateway's error body, e.g. `{ issues }` or `{ code }`. */
  readonly details: Readonly<Record<string, unknown>> | undefined;
  /** Whether the same call may succeed later. */
  readonly retryable: boolean;

  constructor(
    code: GatewayClientErrorCode,
    message: string,
    options: GatewayClientErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayClientError';
    this.code = code;
    this.status = options.status;
    this.serverError = options.serverError;
    this.serverMessage = options.serverMessage;
    this.reasons = options.reasons;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.details = options.details;
    this.retryable = options.retryable ?? false;
  }
}

/** A delivery did not pass verification: do not process it, answer 400/401. */
export class DeliveryVerificationError extends Error {
  /** Stable code to branch on. */
  readonly code: DeliveryVerificationErrorCode;

  constructor(
    code: DeliveryVerificationErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DeliveryVerificationError';
    this.code = code;
  }
}

/** True when `error` is a {@link GatewayClientError}. */
export function isGatewayClientError(error: unknown): error is GatewayClientError {
  return error instanceof GatewayClientError;
}

/** True when `error` is a {@link DeliveryVerificationError}. */
export function isDeliveryVerificationError(error: unknown): error is DeliveryVerificationError {
  return error instanceof DeliveryVerificationError;
}
