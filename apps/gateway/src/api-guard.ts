import type { Logger } from '@callback-gateway/audit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiClient, createAuth } from './auth.js';
import type { FailedAuthLimiter } from './auth-limiter.js';
import { GatewayHttpError } from './errors.js';
import type { GatewayMetrics } from './metrics.js';

/** Methods that change nothing: a page of another origin gains nothing by sending them, as it
 * cannot read the answer. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The origin a browser sees the gateway at, as browsers write it in `Origin`: the request's
 * protocol and host (through a trusted proxy, its `X-Forwarded-Proto` and `X-Forwarded-Host`),
 * default port dropped. Undefined when the host names no origin.
 */
export function requestOrigin(protocol: string, host: string): string | undefined {
  if (!/^[^\s/?#@\\]+$/.test(host)) return undefined;
  try {
    return new URL(`${protocol}://${host}`).origin;
  } catch {
    return undefined;
  }
}

/**
 * Whether a request comes from a page of `own` origin: its `Origin` is exactly that, or, with no
 * `Origin` at all, the browser says `Sec-Fetch-Site: same-origin`. Browsers send `Origin` on
 * every state-changing request, so a request without either is not one the dashboard sent.
 */
export function fromOrigin(
  headers: { origin?: string | undefined; 'sec-fetch-site'?: string | string[] | undefined },
  own: string | undefined,
): boolean {
  if (own === undefined) return false;
  if (headers.origin !== undefined) return headers.origin === own;
  return headers['sec-fetch-site'] === 'same-origin';
}

/** Options of {@link createApiGuard}. */
export interface ApiGuardOptions {
  auth: ReturnType<typeof createAuth>;
  limiter: FailedAuthLimiter;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Whether `GATEWAY_TRUSTED_PROXIES` is set (the advice of the limit's log line depends on it). */
  trustsProxies: boolean;
}

/**
 * The API's front door, run before the body is read: the credentials first (a bearer token, or
 * the dashboard's session cookie), then the failed-auth limit for those that fail, then the
 * origin of state changes made with the cookie.
 *
 * - A valid token or session always passes, whatever its address's failures: behind a proxy
 *   that is not trusted every client shares one address, and one client's typos (or an attacker's
 *   guesses) must not lock the others out.
 * - A request that fails authentication is answered 401, or 429 once its client address has
 *   reached the limit (`auth-limiter.ts`): failing guesses from one address are slowed down.
 * - A POST, PUT, PATCH or DELETE carrying only the session cookie must come from the gateway's
 *   own pages (`Origin`, or `Sec-Fetch-Site: same-origin`), or it is refused with 403: a browser
 *   adds the cookie by itself, also to requests a page of another origin on the same site sends.
 *   Bearer tokens are never sent by a browser on its own, so they need no such check.
 */
export function createApiGuard(options: ApiGuardOptions) {
  const { auth, limiter, metrics, logger } = options;
  const callers = new WeakMap<FastifyRequest, ApiClient>();

  /** The answer to a request whose credentials failed: 401, or 429 past the limit. */
  const failed = (request: FastifyRequest, unauthorized: GatewayHttpError): GatewayHttpError => {
    metrics.authFailures.inc();
    const address = request.ip;
    const wait = limiter.retryAfterSeconds(address);
    if (wait > 0) {
      metrics.authRateLimited.inc();
      return new GatewayHttpError(
        'rate_limited',
        `these credentials are not valid, and too many failed authentications came from this address (${address}): try again in ${wait} s with a valid token (requests with a valid token are not limited)`,
        {},
        { 'retry-after': String(wait) },
      );
    }
    if (limiter.fail(address)) {
      const windowS = Math.round(limiter.windowMs / 1000);
      logger.warn(
        { address, failures: limiter.maxFailures, window_s: windowS },
        `failed-auth limit reached by ${address}: ${limiter.maxFailures} failed authentications in ${windowS} s; its requests that fail authentication get 429 until they are older than that (requests with a valid token still pass)${options.trustsProxies ? '' : ". If this is your reverse proxy's address, set GATEWAY_TRUSTED_PROXIES to it so that failures are counted per client"}`,
      );
    }
    return unauthorized;
  };

  const crossOrigin = (request: FastifyRequest, own: string | undefined): GatewayHttpError => {
    metrics.crossOriginRefusals.inc();
    const origin =
      request.headers.origin ??
      `no Origin (Sec-Fetch-Site: ${String(request.headers['sec-fetch-site'] ?? 'none')})`;
    const expected = own ?? `${request.protocol}://${request.host}`;
    logger.warn(
      { method: request.method, url: request.url, origin, expected },
      `refused ${request.method} ${request.url.split('?')[0]} with the dashboard's session cookie from ${origin}: only the gateway's own pages (${expected}) may change state with the cookie`,
    );
    return new GatewayHttpError(
      'cross_origin_refused',
      `this request carries the dashboard's session cookie but comes from ${origin}, not from the gateway's own pages (${expected}); state changes with the session cookie are accepted only from there: use the dashboard at ${expected}/dashboard, or send an "Authorization: Bearer <token>" header instead`,
    );
  };

  const authenticate = (request: FastifyRequest): ApiClient => {
    let caller: ApiClient;
    try {
      caller = auth.request(request);
    } catch (error) {
      if (error instanceof GatewayHttpError) throw failed(request, error);
      throw error;
    }
    if (caller.via === 'session' && !SAFE_METHODS.has(request.method)) {
      const own = requestOrigin(request.protocol, request.host);
      if (!fromOrigin(request.headers, own)) throw crossOrigin(request, own);
    }
    return caller;
  };

  return {
    /**
     * `onRequest` hook of every route behind the API's auth: answers 401, 429 or 403 before the
     * body is read or validated (answered here, not thrown: bull-board has its own error handler).
     */
    async onRequest(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | void> {
      try {
        callers.set(request, authenticate(request));
      } catch (error) {
        if (!(error instanceof GatewayHttpError)) throw error;
        return reply.code(error.status).headers(error.headers).send(error.body());
      }
    },
    /** The caller {@link onRequest} let through. */
    caller(request: FastifyRequest): ApiClient {
      const caller = callers.get(request);
      if (!caller) {
        throw new Error(`${request.method} ${request.url} is not behind the API guard's hook`);
      }
      return caller;
    },
    /** The dashboard's login: a session for `token`, or 401 or 429, counted like any failure. */
    openSession(request: FastifyRequest, token: unknown): string {
      const session = typeof token === 'string' ? auth.openSession(token) : undefined;
      if (session) return session;
      throw failed(
        request,
        new GatewayHttpError(
          'unauthorized',
          'that is not one of the API tokens (GATEWAY_API_TOKENS)',
        ),
      );
    },
  };
}

export type ApiGuard = ReturnType<typeof createApiGuard>;
