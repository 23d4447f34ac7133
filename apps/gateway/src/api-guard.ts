import type { Logger } from '@callback-gateway/audit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiClient, createAuth } from './auth.js';
import type { FailedAuthLimiter } from './auth-limiter.js';
import { GatewayHttpError } from './errors.js';
import type { GatewayMetrics } from './metrics.js';

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
 * the dashboard's session cookie), then the failed-auth limit for those that fail.
 *
 * - A valid token or session always passes, whatever its address's failures: behind a proxy
 *   that is not trusted every client shares one address, and one client's typos (or an attacker's
 *   guesses) must not lock the others out.
 * - A request that fails authentication is answered 401, or 429 once its client address has
 *   reached the limit (`auth-limiter.ts`): failing guesses from one address are slowed down.
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

  const authenticate = (request: FastifyRequest): ApiClient => {
    try {
      return auth.request(request);
    } catch (error) {
      if (error instanceof GatewayHttpError) throw failed(request, error);
      throw error;
    }
  };

  return {
    /**
     * `onRequest` hook of every route behind the API's auth: answers 401 or 429 before the body
     * is read or validated (answered here, not thrown: bull-board has its own error handler).
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
