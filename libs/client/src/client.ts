import { GatewayClientError } from './errors.js';
import { send, type FetchLike, type Transport } from './http.js';
import {
  registrationCreatedSchema,
  registrationViewSchema,
  type RegistrationCreated,
  type RegistrationView,
} from './wire.js';

/** Options of {@link createGatewayClient}. */
export interface GatewayClientOptions {
  /** The gateway's base URL, e.g. `https://gateway.internal:8080` (a path prefix is kept). */
  baseUrl: string;
  /** The bearer token the gateway expects. It never appears in errors. */
  token: string;
  /**
   * The `fetch` to call (inject one for proxies, custom dispatchers or tests).
   * @defaultValue `globalThis.fetch`
   */
  fetch?: FetchLike;
  /**
   * Deadline of one call, answer body included, in milliseconds.
   * @defaultValue 10_000
   */
  timeoutMs?: number;
  /**
   * The clock, used to turn an HTTP-date `Retry-After` into seconds.
   * @defaultValue `Date.now`
   */
  now?: () => number;
}

/** What the pipeline asks the gateway to expect (camelCase; sent as snake_case). */
export interface RegisterInput {
  /** Where the gateway delivers the callback (the pipeline's HTTP handler). */
  deliverTo: string;
  /**
   * Who will call back.
   * @defaultValue 'llamaparse'
   */
  source?: 'llamaparse';
  /** The parse job's id, when already known (else use {@link GatewayClient.attachJob}). */
  parseJobId?: string;
  /**
   * The LlamaCloud API the job was submitted to: the gateway asks that one when the callback
   * does not come.
   * @defaultValue the gateway's: v2
   */
  parseApi?: 'v1' | 'v2';
  /** Free-form data kept with the registration and shown in its status. */
  metadata?: Record<string, unknown>;
  /** Seconds within which a callback is expected before the registration turns `overdue`. */
  expectCallbackWithinS?: number;
  /** A `whsec_...` secret to sign deliveries with, instead of one the gateway generates. */
  deliverySecret?: string;
  /** Whether callbacks must carry a valid signature (the gateway's default applies if unset). */
  requireSignature?: boolean;
}

/** Per-call options. */
export interface CallOptions {
  /** Aborts the call (raises `GATEWAY_ABORTED`). The client's `timeoutMs` applies as well. */
  signal?: AbortSignal;
}

/** Options of {@link GatewayClient.attachJob}. */
export interface AttachJobOptions extends CallOptions {
  /** As {@link RegisterInput.parseApi}. @defaultValue the gateway's: v2 */
  parseApi?: 'v1' | 'v2';
}

/** The typed client of the callback gateway. It never retries by itself. */
export interface GatewayClient {
  /** `POST /v1/registrations`: tells the gateway to expect a callback; gives its URL and secrets. */
  register(input: RegisterInput, options?: CallOptions): Promise<RegistrationCreated>;
  /** `PATCH /v1/registrations/:id`: records the parse job id once the job is submitted. */
  attachJob(id: string, parseJobId: string, options?: AttachJobOptions): Promise<RegistrationView>;
  /** `GET /v1/registrations/:id`: the registration with its callbacks and deliveries. */
  status(id: string, options?: CallOptions): Promise<RegistrationView>;
}

/** The default deadline of one call. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * Creates a client of the gateway's registration API.
 * @throws GatewayClientError `GATEWAY_CLIENT_USAGE` when an option is unusable.
 */
export function createGatewayClient(options: GatewayClientOptions): GatewayClient {
  const transport: Transport = {
    baseUrl: checkBaseUrl(options.baseUrl),
    token: checkToken(options.token),
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    timeoutMs: checkTimeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    now: options.now ?? Date.now,
  };

  return {
    async register(input, callOptions = {}) {
      if (!nonEmpty(input?.deliverTo)) {
        throw usage('register() needs deliverTo, the URL to deliver to.');
      }
      return send(transport, {
        method: 'POST',
        path: '/v1/registrations',
        body: registrationBody(input),
        schema: registrationCreatedSchema,
        signal: callOptions.signal,
      });
    },
    async attachJob(id, parseJobId, callOptions = {}) {
      if (!nonEmpty(parseJobId)) {
        throw usage('attachJob() needs the parse job id as a non-empty string.');
      }
      return send(transport, {
        method: 'PATCH',
        path: registrationPath(id, 'attachJob'),
        body: {
          parse_job_id: parseJobId,
          ...(callOptions.parseApi !== undefined && { parse_api: callOptions.parseApi }),
        },
        schema: registrationViewSchema,
        signal: callOptions.signal,
      });
    },
    async status(id, callOptions = {}) {
      return send(transport, {
        method: 'GET',
        path: registrationPath(id, 'status'),
        schema: registrationViewSchema,
        signal: callOptions.signal,
      });
    },
  };
}

function registrationBody(input: RegisterInput): Record<string, unknown> {
  const body: Record<string, unknown> = {
    deliver_to: input.deliverTo,
    source: input.source ?? 'llamaparse',
    parse_job_id: input.parseJobId,
    parse_api: input.parseApi,
    metadata: input.metadata,
    expect_callback_within_s: input.expectCallbackWithinS,
    delivery_secret: input.deliverySecret,
    require_signature: input.requireSignature,
  };
  // Unset fields are left out, so the gateway's defaults apply.
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));
}

function registrationPath(id: string, call: string): string {
  if (!nonEmpty(id)) throw usage(`${call}() needs the registration id as a non-empty string.`);
  return `/v1/registrations/${encodeURIComponent(id)}`;
}

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

function usage(message: string): GatewayClientError {
  return new GatewayClientError('GATEWAY_CLIENT_USAGE', message);
}

function checkBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch (error) {
    throw new GatewayClientError(
      'GATEWAY_CLIENT_USAGE',
      'baseUrl is not a URL; give the gateway address, e.g. http://gateway:8080.',
      { cause: error },
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usage(`baseUrl must use http or https, not ${url.protocol}`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw usage('baseUrl must not carry credentials, a query or a fragment; use token instead.');
  }
  return url.href.replace(/\/+$/, '');
}

function checkToken(token: string): string {
  // The token itself is never quoted: not even a bad one belongs in an error message.
  if (typeof token !== 'string' || token.trim() === '') {
    throw usage('token is empty; give the bearer token the gateway was configured with.');
  }
  if (/[^\x21-\x7e]/.test(token)) {
    throw usage('token may hold only visible ASCII characters; check how it was read.');
  }
  return token;
}

function checkTimeout(timeoutMs: number): number {
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
    throw usage(`timeoutMs must be a positive whole number of milliseconds, got ${timeoutMs}.`);
  }
  return timeoutMs;
}
