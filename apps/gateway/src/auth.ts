import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { GatewayHttpError } from './errors.js';

/** Who presented a valid API token: a stable, non-secret label (`token#1`, ...). */
export interface ApiClient {
  label: string;
  /** How: a bearer token (sent on purpose), or the dashboard's session cookie (which a browser
   * sends by itself, so state changes with it must come from the gateway's own pages). */
  via: 'bearer' | 'session';
}

/** The dashboard's session cookie (HttpOnly, SameSite=Strict, Secure over https). */
export const SESSION_COOKIE = 'cbgw_session';
const SESSION_SECONDS = 12 * 3600;

/**
 * The `Set-Cookie` value of the dashboard's session: `value` for `maxAgeSeconds`, or its removal
 * (no value). `Secure` whenever the browser reached the gateway over https, so the cookie never
 * travels over plain http again.
 */
export function sessionCookie(
  session: { value: string; maxAgeSeconds: number } | undefined,
  options: { secure: boolean },
): string {
  return [
    `${SESSION_COOKIE}=${session?.value ?? ''}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    ...(options.secure ? ['Secure'] : []),
    `Max-Age=${session?.maxAgeSeconds ?? 0}`,
  ].join('; ');
}

const digest = (value: string) => createHash('sha256').update(value).digest();

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

/**
 * API authentication: `Authorization: Bearer <token>` checked against the configured tokens in
 * constant time (every token compared as fixed-length digests), or the dashboard's session
 * cookie, signed with the token it was opened with (rotating that token ends its sessions).
 */
export function createAuth(tokens: readonly string[]) {
  const digests = tokens.map((token) => digest(token));
  const indexOf = (presented: string): number => {
    const candidate = digest(presented);
    let found = -1;
    digests.forEach((known, index) => {
      if (timingSafeEqual(known, candidate)) found = index;
    });
    return found;
  };
  const sign = (index: number, expires: number) =>
    createHmac('sha256', tokens[index] ?? '')
      .update(`${index}.${expires}`)
      .digest('base64url');

  const fromSession = (value: string | undefined, now: number): number => {
    const [index, expires, signature] = (value ?? '').split('.');
    const i = Number(index);
    const until = Number(expires);
    if (!Number.isInteger(i) || i < 0 || i >= tokens.length || !(until > now) || !signature) {
      return -1;
    }
    const expected = Buffer.from(sign(i, until));
    const given = Buffer.from(signature);
    return expected.length === given.length && timingSafeEqual(expected, given) ? i : -1;
  };

  const unauthorized = () =>
    new GatewayHttpError(
      'unauthorized',
      tokens.length === 0
        ? 'no API token is configured on this gateway (GATEWAY_API_TOKENS)'
        : 'a valid "Authorization: Bearer <token>" header is required',
      {},
      { 'www-authenticate': 'Bearer realm="callback-gateway"' },
    );

  return {
    /** The caller of a request, or a 401 `GatewayHttpError`. */
    request(request: {
      headers: { authorization?: string | undefined; cookie?: string | undefined };
    }): ApiClient {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
      if (bearer) {
        const found = bearer[1] ? indexOf(bearer[1]) : -1;
        if (found < 0) throw unauthorized();
        return { label: `token#${found + 1}`, via: 'bearer' };
      }
      const found = fromSession(cookieValue(request.headers.cookie, SESSION_COOKIE), Date.now());
      if (found < 0) throw unauthorized();
      return { label: `token#${found + 1}`, via: 'session' };
    },
    /** A session cookie value for a valid token, or undefined. */
    openSession(token: string, now = Date.now()): string | undefined {
      const index = indexOf(token);
      if (index < 0) return undefined;
      const expires = now + SESSION_SECONDS * 1000;
      return `${index}.${expires}.${sign(index, expires)}`;
    },
    sessionSeconds: SESSION_SECONDS,
  };
}
