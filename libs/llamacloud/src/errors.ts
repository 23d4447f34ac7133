/**
 * Every error the LlamaCloud client raises carries one of these stable codes. Callers branch on
 * `code`, never on message text. Each code is documented in the README (a test checks both lists).
 */
export const LLAMACLOUD_ERROR_CODES = [
  // LlamaCloud answered with an error.
  'LLAMACLOUD_UNAUTHORIZED',
  'LLAMACLOUD_NOT_FOUND',
  'LLAMACLOUD_INVALID_REQUEST',
  'LLAMACLOUD_RATE_LIMITED',
  'LLAMACLOUD_UNAVAILABLE',
  // LlamaCloud answered something that is not the documented shape.
  'LLAMACLOUD_BAD_RESPONSE',
  // No answer.
  'LLAMACLOUD_TIMEOUT',
  'LLAMACLOUD_NETWORK',
] as const;

/** A stable error code of the LlamaCloud client. */
export type LlamaCloudErrorCode = (typeof LLAMACLOUD_ERROR_CODES)[number];

/** Options for {@link LlamaCloudError}. */
export interface LlamaCloudErrorOptions {
  /** The underlying error, passed through as `cause`. */
  cause?: unknown;
  /** The HTTP status LlamaCloud answered with, when it answered. */
  status?: number;
  /**
   * The `detail` of LlamaCloud's `{"detail": ...}` error body, as sent (a sentence, or FastAPI's
   * list of validation issues), with the API key removed should it ever appear.
   */
  detail?: unknown;
  /** Seconds LlamaCloud asked to wait (`Retry-After` of a 429 or 503), when it sent the header. */
  retryAfterSeconds?: number;
  /**
   * True when the same call may succeed later (network, timeout, 429, 5xx).
   * @defaultValue false
   */
  retryable?: boolean;
}

/**
 * The base class of every error of the LlamaCloud client: a stable `code` and a message that says
 * what happened, why, and what to do next. It never holds the API key.
 */
export class LlamaCloudError extends Error {
  readonly code: LlamaCloudErrorCode;
  readonly status: number | undefined;
  readonly detail: unknown;
  readonly retryAfterSeconds: number | undefined;
  readonly retryable: boolean;

  constructor(code: LlamaCloudErrorCode, message: string, options: LlamaCloudErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LlamaCloudError';
    this.code = code;
    this.status = options.status;
    this.detail = options.detail;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.retryable = options.retryable ?? false;
  }
}

/** True when `error` is a {@link LlamaCloudError}. */
export function isLlamaCloudError(error: unknown): error is LlamaCloudError {
  return error instanceof LlamaCloudError;
}
