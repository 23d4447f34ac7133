import { z } from 'zod';
import type { GatewayMetrics } from './metrics.js';

/**
 * Every error the gateway's HTTP API answers, as `{ "error": "<code>", "message": "..." }`.
 * The codes are stable (clients branch on them) and documented in the README ("HTTP API").
 */
export const GATEWAY_ERRORS = {
  unauthorized: 401,
  invalid_request: 400,
  destination_refused: 400,
  malformed_callback: 400,
  bad_signature: 401,
  cross_origin_refused: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  webhook_url_unavailable: 503,
  storage_unavailable: 503,
  not_replicated: 503,
  intake_busy: 503,
  shutting_down: 503,
  internal_error: 500,
} as const;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

/** The body of every error answer, as the OpenAPI document describes it. */
export const apiErrorBody = z
  .object({
    error: z.enum(Object.keys(GATEWAY_ERRORS) as [GatewayErrorCode, ...GatewayErrorCode[]]),
    message: z.string().describe('What happened and what to do next'),
  })
  .loose();

/** An API error: its code decides the status; `extra` fields are added to the JSON body. */
export class GatewayHttpError extends Error {
  readonly status: number;
  constructor(
    readonly error: GatewayErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'GatewayHttpError';
    this.status = GATEWAY_ERRORS[error];
  }

  body(): Record<string, unknown> {
    return { error: this.error, message: this.message, ...this.extra };
  }
}

/** Seconds a client should wait after `storage_unavailable`. */
export const STORAGE_RETRY_AFTER_S = 5;

/** Redis could not be reached: nothing was stored, the client should retry. */
export function storageUnavailable(): GatewayHttpError {
  return new GatewayHttpError(
    'storage_unavailable',
    'the gateway cannot reach its storage (Redis) right now; nothing was stored: retry later',
    {},
    { 'retry-after': String(STORAGE_RETRY_AFTER_S) },
  );
}

/** Seconds a parser should wait after `not_replicated`. */
export const NOT_REPLICATED_RETRY_AFTER_S = 1;

/** The callback did not reach `GATEWAY_ACK_REPLICAS` replicas in time: not acknowledged. */
export function notReplicated(detail: string): GatewayHttpError {
  return new GatewayHttpError(
    'not_replicated',
    `${detail} (GATEWAY_ACK_REPLICAS): not acknowledged; retry, a repeat is recognised as a duplicate`,
    {},
    { 'retry-after': String(NOT_REPLICATED_RETRY_AFTER_S) },
  );
}

/**
 * Runs storage work for a route: a Redis failure becomes `storage_unavailable` (503, nothing
 * stored, counted by route); an API error thrown inside passes through as it is.
 */
export function storageGuard(metrics: GatewayMetrics, route: string) {
  return async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof GatewayHttpError) throw error;
      metrics.storageUnavailable.inc({ route });
      throw storageUnavailable();
    }
  };
}
