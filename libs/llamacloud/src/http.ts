import {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  type ClientOptions,
} from '@llamaindex/llama-cloud';
import { fetch as undiciFetch, type Dispatcher } from 'undici';
import { LlamaCloudError, type LlamaCloudErrorCode } from './errors.js';

/** The `fetch` the official SDK is given. */
export type SdkFetch = NonNullable<ClientOptions['fetch']>;

/**
 * The `fetch` the SDK sends with: undici's, through `dispatcher` when one is given (proxies,
 * connection limits, the outbound policy, tests), following no redirects (a 3xx is not
 * LlamaCloud's API, and the API key must not follow it elsewhere).
 *
 * An upload's form is encoded here, by the global `Response` (the undici that made the SDK's
 * global `FormData`), and handed on as bytes: another copy of undici (Node 24's own, when it
 * owns the dispatcher) does not know this one's `FormData` and fails mid-request ("action is
 * not a function"). The file is in memory already; so is this copy.
 */
export function sdkFetch(dispatcher: Dispatcher | undefined): SdkFetch {
  const send = async (input: string | URL | Request, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    let body: string | Buffer | undefined;
    if (init.body instanceof FormData) {
      const encoded = new Response(init.body);
      headers.set('content-type', encoded.headers.get('content-type') ?? 'multipart/form-data');
      body = Buffer.from(await encoded.arrayBuffer());
    } else if (typeof init.body === 'string') {
      body = init.body;
    } else if (init.body !== undefined && init.body !== null) {
      throw new TypeError('The LlamaCloud client sends JSON text or a form, nothing else.');
    }
    const response = await undiciFetch(input instanceof Request ? input.url : String(input), {
      method: init.method ?? 'GET',
      headers: [...headers],
      body,
      signal: init.signal ?? null,
      redirect: 'manual',
      ...(dispatcher !== undefined && { dispatcher }),
    });
    // undici's Response is the fetch Response the SDK reads; only the declared types differ.
    return response as unknown as Response;
  };
  // The SDK checks that this fetch can send its FormData with the Response it names here.
  return Object.assign(send, { Response });
}

/** What a failed call needs to explain itself. */
export interface CallContext {
  /** `POST /api/v2/parse` */
  what: string;
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  /** Aborted once the call's time is up (the answer's body included). */
  deadline: AbortSignal;
  now: () => number;
}

/**
 * The {@link LlamaCloudError} for what a call through the SDK threw: its status errors by
 * status, its connection errors as `LLAMACLOUD_NETWORK`, the call's deadline as
 * `LLAMACLOUD_TIMEOUT`, an answer that is not JSON as `LLAMACLOUD_BAD_RESPONSE`. Anything else
 * (a bug) is thrown on as it is. Never holds the API key, nor the SDK's error (its message
 * quotes the answer's body).
 */
export function toLlamaCloudError(error: unknown, context: CallContext): unknown {
  if (error instanceof LlamaCloudError) return error;
  const { what } = context;
  if (context.deadline.aborted || error instanceof APIConnectionTimeoutError) {
    return new LlamaCloudError(
      'LLAMACLOUD_TIMEOUT',
      `LlamaCloud did not answer ${what} within ${context.timeoutMs} ms. ` +
        'It may be overloaded or unreachable; try again later or raise timeoutMs.',
      { retryable: true },
    );
  }
  if (error instanceof APIConnectionError) {
    const cause = error.cause ?? error;
    const reason = redact(describeCause(cause), context.apiKey);
    return new LlamaCloudError(
      'LLAMACLOUD_NETWORK',
      `Could not reach LlamaCloud at ${context.baseUrl} for ${what} (${reason}). ` +
        'Check the network and baseUrl; the call may be tried again.',
      { cause, retryable: true },
    );
  }
  if (error instanceof APIError && error.status !== undefined && error.headers !== undefined) {
    return errorFromAnswer(error.status, error.headers, error.error, context);
  }
  if (error instanceof SyntaxError) {
    return new LlamaCloudError(
      'LLAMACLOUD_BAD_RESPONSE',
      `LlamaCloud answered ${what} with a body that is not JSON. ` +
        'Check that baseUrl points at LlamaCloud and not at a proxy or another service.',
    );
  }
  return error;
}

interface StatusMapping {
  code: LlamaCloudErrorCode;
  retryable: boolean;
  hint: string;
}

function classify(status: number): StatusMapping {
  if (status === 401 || status === 403) {
    return {
      code: 'LLAMACLOUD_UNAUTHORIZED',
      retryable: false,
      hint: 'Check the API key, and organizationId/projectId if set.',
    };
  }
  if (status === 404) {
    return {
      code: 'LLAMACLOUD_NOT_FOUND',
      retryable: false,
      hint: 'The job does not exist in this project (or its result is not there).',
    };
  }
  if (status === 429) {
    return { code: 'LLAMACLOUD_RATE_LIMITED', retryable: true, hint: 'Slow down and try again.' };
  }
  if (status >= 500) {
    return { code: 'LLAMACLOUD_UNAVAILABLE', retryable: true, hint: 'Try again later.' };
  }
  if (status >= 400) {
    return { code: 'LLAMACLOUD_INVALID_REQUEST', retryable: false, hint: 'Fix the request.' };
  }
  // 1xx and 3xx: no redirect is followed, so an answer like this is not LlamaCloud's API.
  return {
    code: 'LLAMACLOUD_BAD_RESPONSE',
    retryable: false,
    hint: 'Check that baseUrl points at the API itself.',
  };
}

function errorFromAnswer(
  status: number,
  headers: Headers,
  body: unknown,
  context: CallContext,
): LlamaCloudError {
  const detail =
    body !== null && typeof body === 'object' && 'detail' in body
      ? redactDeep(body.detail, context.apiKey)
      : undefined;
  const mapping = classify(status);
  const retryAfterSeconds = parseRetryAfter(headers.get('retry-after'), context.now());
  const said = detail === undefined ? '.' : `: ${describeDetail(detail)}.`;
  const wait = retryAfterSeconds === undefined ? '' : ` Retry after ${retryAfterSeconds} s.`;
  return new LlamaCloudError(
    mapping.code,
    `LlamaCloud refused ${context.what} with ${status}${said} ${mapping.hint}${wait}`,
    { status, detail, retryAfterSeconds, retryable: mapping.retryable },
  );
}

function describeDetail(detail: unknown): string {
  const text = typeof detail === 'string' ? detail : JSON.stringify(detail);
  return text.length > 500 ? `${text.slice(0, 500)}...` : text;
}

// Twin of the end of libs/client/src/http.ts, held equal by tools/workspace/src/copies.test.ts.

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
