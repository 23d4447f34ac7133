import type { z } from 'zod';
import {
  GatewayClientError,
  type GatewayClientErrorCode,
  type WebhookUrlRefusal,
} from './errors.js';
import { describeIssues, errorBodySchema } from './wire.js';

/** The `fetch` the client calls (the global one by default). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** What one call to the gateway needs. */
export interface GatewayRequest<T> {
  method: 'GET' | 'POST' | 'PATCH';
  /** Path below the base URL, already encoded. */
  path: string;
  body?: unknown;
  /** Validates (and reshapes) a 2xx answer. */
  schema: z.ZodType<T>;
  signal?: AbortSignal;
}

/** The settings every call shares. */
export interface Transport {
  baseUrl: string;
  token: string;
  fetch: FetchLike;
  timeoutMs: number;
  now: () => number;
}

/**
 * Sends one request and returns the validated answer, or throws a {@link GatewayClientError}.
 * No retries: the caller decides, from `retryable` and `retryAfterSeconds`.
 */
export async function send<T>(transport: Transport, request: GatewayRequest<T>): Promise<T> {
  const what = `${request.method} ${request.path}`;
  const timeout = AbortSignal.timeout(transport.timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  const headers: Record<string, string> = {
    authorization: `Bearer ${transport.token}`,
    accept: 'application/json',
  };
  if (request.body !== undefined) headers['content-type'] = 'application/json';

  let response: Response;
  let text: string;
  try {
    response = await transport.fetch(`${transport.baseUrl}${request.path}`, {
      method: request.method,
      headers,
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
      signal,
    });
    // The deadline covers reading the body too: a gateway that stalls mid-answer times out.
    text = await response.text();
  } catch (error) {
    throw noAnswer(error, what, transport, request.signal, timeout);
  }

  const json = parseJson(text);
  if (!response.ok) throw errorFromAnswer(response, json, what, transport);
  if (json === undefined) {
    throw new GatewayClientError(
      'GATEWAY_BAD_RESPONSE',
      `The gateway answered ${what} with ${response.status} but a body that is not JSON. ` +
        'Check that baseUrl points at the gateway and not at a proxy or another service.',
      { status: response.status },
    );
  }
  const parsed = request.schema.safeParse(json.value);
  if (!parsed.success) {
    throw new GatewayClientError(
      'GATEWAY_BAD_RESPONSE',
      `The gateway answered ${what} with ${response.status} but not the documented shape ` +
        `(${describeIssues(parsed.error)}). Check that the client and gateway versions match.`,
      { status: response.status, cause: parsed.error },
    );
  }
  return parsed.data;
}

function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return undefined;
  }
}

function noAnswer(
  error: unknown,
  what: string,
  transport: Transport,
  callerSignal: AbortSignal | undefined,
  timeout: AbortSignal,
): GatewayClientError {
  if (callerSignal?.aborted) {
    return new GatewayClientError('GATEWAY_ABORTED', `${what} was aborted by the caller.`, {
      cause: error,
    });
  }
  if (timeout.aborted) {
    return new GatewayClientError(
      'GATEWAY_TIMEOUT',
      `The gateway did not answer ${what} within ${transport.timeoutMs} ms. ` +
        'It may be overloaded or unreachable; try again later or raise timeoutMs.',
      { cause: error, retryable: true },
    );
  }
  const reason = redact(describeCause(error), transport.token);
  return new GatewayClientError(
    'GATEWAY_NETWORK',
    `Could not reach the gateway at ${transport.baseUrl} for ${what} (${reason}). ` +
      'Check that it is running and that baseUrl is right; the call may be tried again.',
    { cause: error, retryable: true },
  );
}

interface StatusMapping {
  code: GatewayClientErrorCode;
  retryable: boolean;
  hint: string;
}

function classify(status: number, serverError: string | undefined): StatusMapping {
  if (status === 400 && serverError === 'destination_refused') {
    return {
      code: 'GATEWAY_DESTINATION_REFUSED',
      retryable: false,
      hint: 'The gateway will not deliver to that deliverTo URL; use a public address it allows.',
    };
  }
  if (status === 503 && serverError === 'webhook_url_unavailable') {
    return {
      code: 'GATEWAY_WEBHOOK_URL_UNAVAILABLE',
      retryable: true,
      hint: 'The gateway has no public callback URL right now (see reasons); try again later.',
    };
  }
  if (status === 400 || status === 422) {
    return { code: 'GATEWAY_INVALID_REQUEST', retryable: false, hint: 'Fix the request.' };
  }
  if (status === 401 || status === 403) {
    return {
      code: 'GATEWAY_UNAUTHORIZED',
      retryable: false,
      hint: 'Check the token the client was created with.',
    };
  }
  if (status === 404) {
    return {
      code: 'GATEWAY_NOT_FOUND',
      retryable: false,
      hint: 'The registration does not exist or has expired.',
    };
  }
  if (status === 409) {
    return { code: 'GATEWAY_CONFLICT', retryable: false, hint: 'Read its status first.' };
  }
  if (status === 429) {
    return { code: 'GATEWAY_RATE_LIMITED', retryable: true, hint: 'Slow down and try again.' };
  }
  if (status === 502 || status === 503 || status === 504) {
    return { code: 'GATEWAY_UNAVAILABLE', retryable: true, hint: 'Try again later.' };
  }
  if (status >= 500) {
    return { code: 'GATEWAY_SERVER_ERROR', retryable: true, hint: 'Try again later.' };
  }
  return { code: 'GATEWAY_REQUEST_REJECTED', retryable: false, hint: 'Check the request.' };
}

function errorFromAnswer(
  response: Response,
  json: { value: unknown } | undefined,
  what: string,
  transport: Transport,
): GatewayClientError {
  const body = json === undefined ? undefined : errorBodySchema.safeParse(json.value);
  const server = body?.success ? body.data : undefined;
  const mapping = classify(response.status, server?.error);
  const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'), transport.now());
  let details: Record<string, unknown> | undefined;
  if (server) {
    const { error: _error, message: _message, reasons: _reasons, ...rest } = server;
    if (Object.keys(rest).length > 0) details = redactDeep(rest, transport.token);
  }
  const serverMessage = server?.message && redact(server.message, transport.token);
  const reasons: WebhookUrlRefusal[] | undefined = server?.reasons?.map((r) => ({
    source: r.source,
    code: r.code,
    reason: redact(r.reason, transport.token),
  }));
  const said = server ? ` ${server.error}${serverMessage ? `: ${serverMessage}` : ''}.` : '.';
  const wait = retryAfterSeconds === undefined ? '' : ` Retry after ${retryAfterSeconds} s.`;
  return new GatewayClientError(
    mapping.code,
    `The gateway refused ${what} with ${response.status}${said} ${mapping.hint}${wait}`,
    {
      status: response.status,
      serverError: server?.error,
      serverMessage,
      reasons,
      retryAfterSeconds,
      details,
      retryable: mapping.retryable,
    },
  );
}

// Twin of the end of libs/llamacloud/src/http.ts, held equal by tools/workspace/src/copies.test.ts.

const REDACTED = '[redacted]';

/** `Retry-After` as whole seconds from now: delta-seconds or an HTTP date; undefined if unusable. */
export function parseRetryAfter(
  header: string | null | undefined,
  nowMs: number,
): number | undefined {
  if (header === null || header === undefined) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

// Adds what the error's cause says (`fetch` throws "fetch failed" with the reason on its cause)
// and the error's code, its own or its cause's, unless the message shows them already.
function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const inner = error.cause instanceof Error ? error.cause.message : '';
  const message =
    inner && !error.message.includes(inner) ? `${error.message}: ${inner}` : error.message;
  const code = codeOf(error) ?? codeOf(error.cause);
  return code && !message.includes(code) ? `${message}: ${code}` : message;
}

function codeOf(value: unknown): string | undefined {
  return value && typeof value === 'object' && 'code' in value ? String(value.code) : undefined;
}

// The other side should never echo our secret (token, API key), but if it does, the secret must
// not travel on in our errors.
function redact(text: string, secret: string): string {
  return text.split(secret).join(REDACTED);
}

// As `redact`, anywhere inside a JSON value (where the secret appears JSON-escaped).
function redactDeep<T>(value: T, secret: string): T {
  if (value === undefined) return value;
  const text = JSON.stringify(value);
  const escaped = JSON.stringify(secret).slice(1, -1);
  if (!text.includes(escaped)) return value;
  return JSON.parse(text.split(escaped).join(REDACTED)) as T;
}
