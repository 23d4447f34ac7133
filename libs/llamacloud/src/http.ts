import { request, Response, type Dispatcher, type FormData } from 'undici';
import type { z } from 'zod';
import { LlamaCloudError, type LlamaCloudErrorCode } from './errors.js';
import { describeIssues, errorBodySchema } from './wire.js';

/** What one call to LlamaCloud needs. */
export interface LlamaCloudRequest<T> {
  method: 'GET' | 'POST';
  /** Path below the base URL, already encoded, without query. */
  path: string;
  /** Query parameters; an array value is sent repeated (`?expand=a&expand=b`). */
  query?: Record<string, string | readonly string[] | undefined>;
  /** A JSON body, or a multipart form. */
  body?: { json: unknown } | { form: FormData };
  /** Validates (and reshapes) a 2xx answer. */
  schema: z.ZodType<T>;
}

/** The settings every call shares. */
export interface Transport {
  baseUrl: string;
  apiKey: string;
  dispatcher: Dispatcher | undefined;
  timeoutMs: number;
  organizationId: string | undefined;
  projectId: string | undefined;
  now: () => number;
}

const USER_AGENT = 'callback-gateway-llamacloud/0.1';

/**
 * Sends one request and returns the validated answer, or throws a {@link LlamaCloudError}.
 * No retries: the caller decides, from `retryable` and `retryAfterSeconds`.
 */
export async function send<T>(transport: Transport, call: LlamaCloudRequest<T>): Promise<T> {
  const url = buildUrl(transport, call);
  const what = `${call.method} ${call.path}`;
  const headers: Record<string, string> = {
    authorization: `Bearer ${transport.apiKey}`,
    accept: 'application/json',
    'user-agent': USER_AGENT,
  };
  let body: string | Buffer | undefined;
  if (call.body && 'json' in call.body) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(call.body.json);
  } else if (call.body) {
    body = await multipart(call.body.form, headers);
  }

  const timeout = AbortSignal.timeout(transport.timeoutMs);
  let status: number;
  let answerHeaders: Record<string, string | string[] | undefined>;
  let text: string;
  try {
    const response = await request(url, {
      method: call.method,
      headers,
      body,
      signal: timeout,
      dispatcher: transport.dispatcher,
    });
    status = response.statusCode;
    answerHeaders = response.headers;
    // The deadline covers reading the body too: an answer that stalls midway times out.
    text = await response.body.text();
  } catch (error) {
    throw noAnswer(error, what, transport, timeout);
  }

  const json = parseJson(text);
  if (status < 200 || status >= 300) {
    throw errorFromAnswer(status, answerHeaders, json, what, transport);
  }
  if (json === undefined) {
    throw new LlamaCloudError(
      'LLAMACLOUD_BAD_RESPONSE',
      `LlamaCloud answered ${what} with ${status} but a body that is not JSON. ` +
        'Check that baseUrl points at LlamaCloud and not at a proxy or another service.',
      { status },
    );
  }
  const parsed = call.schema.safeParse(json.value);
  if (!parsed.success) {
    throw new LlamaCloudError(
      'LLAMACLOUD_BAD_RESPONSE',
      `LlamaCloud answered ${what} with ${status} but not the documented shape ` +
        `(${redact(describeIssues(parsed.error), transport.apiKey)}). ` +
        'Its API may have changed; check this client against the current API reference.',
      { status, cause: parsed.error },
    );
  }
  return parsed.data;
}

/**
 * The form as multipart/form-data bytes, its boundary written into `headers`. Encoded here, by
 * the undici that made the form, not by the dispatcher: the global dispatcher may belong to
 * another copy of undici (Node 24's own), which does not know this copy's FormData and fails
 * mid-request ("action is not a function"). The file is in memory already; so is this copy.
 */
async function multipart(form: FormData, headers: Record<string, string>): Promise<Buffer> {
  const encoded = new Response(form);
  const type = encoded.headers.get('content-type');
  if (type) headers['content-type'] = type;
  return Buffer.from(await encoded.arrayBuffer());
}

function buildUrl(transport: Transport, call: LlamaCloudRequest<unknown>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(call.query ?? {})) {
    if (value === undefined) continue;
    for (const one of typeof value === 'string' ? [value] : value) params.append(name, one);
  }
  if (transport.organizationId !== undefined) {
    params.set('organization_id', transport.organizationId);
  }
  if (transport.projectId !== undefined) params.set('project_id', transport.projectId);
  const query = params.toString();
  return `${transport.baseUrl}${call.path}${query ? `?${query}` : ''}`;
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
  timeout: AbortSignal,
): LlamaCloudError {
  if (timeout.aborted) {
    return new LlamaCloudError(
      'LLAMACLOUD_TIMEOUT',
      `LlamaCloud did not answer ${what} within ${transport.timeoutMs} ms. ` +
        'It may be overloaded or unreachable; try again later or raise timeoutMs.',
      { cause: error, retryable: true },
    );
  }
  const reason = redact(describeCause(error), transport.apiKey);
  return new LlamaCloudError(
    'LLAMACLOUD_NETWORK',
    `Could not reach LlamaCloud at ${transport.baseUrl} for ${what} (${reason}). ` +
      'Check the network and baseUrl; the call may be tried again.',
    { cause: error, retryable: true },
  );
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
  // 1xx and 3xx: undici follows no redirects, so an answer like this is not LlamaCloud's API.
  return {
    code: 'LLAMACLOUD_BAD_RESPONSE',
    retryable: false,
    hint: 'Check that baseUrl points at the API itself.',
  };
}

function errorFromAnswer(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  json: { value: unknown } | undefined,
  what: string,
  transport: Transport,
): LlamaCloudError {
  const parsed = json === undefined ? undefined : errorBodySchema.safeParse(json.value);
  const detail = parsed?.success ? redactDeep(parsed.data.detail, transport.apiKey) : undefined;
  const mapping = classify(status);
  const retryAfter = headers['retry-after'];
  const retryAfterSeconds = parseRetryAfter(
    Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
    transport.now(),
  );
  const said = detail === undefined ? '.' : `: ${describeDetail(detail)}.`;
  const wait = retryAfterSeconds === undefined ? '' : ` Retry after ${retryAfterSeconds} s.`;
  return new LlamaCloudError(
    mapping.code,
    `LlamaCloud refused ${what} with ${status}${said} ${mapping.hint}${wait}`,
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

// Adds the error's code: its own (undici's `request` sets one) or its cause's (`fetch` throws
// "fetch failed" with the code on the cause), unless the message shows it already.
function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = codeOf(error) ?? codeOf(error.cause);
  return code && !error.message.includes(code) ? `${error.message}: ${code}` : error.message;
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
