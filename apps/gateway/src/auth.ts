import { createHash, timingSafeEqual } from 'node:crypto';
import { GatewayHttpError } from './errors.js';

/** Who presented a valid API token: a stable, non-secret label (`token#1`, ...). */
export interface ApiClient {
  label: string;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Checks `Authorization: Bearer <token>` against the configured tokens in constant time: every
 * token is compared (fixed-length digests, `timingSafeEqual`), whichever matches.
 */
export function createBearerAuth(tokens: readonly string[]) {
  const digests = tokens.map((token) => digest(token));
  return (authorization: string | undefined): ApiClient => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    const presented = digest(match?.[1] ?? '');
    let found = -1;
    digests.forEach((candidate, index) => {
      if (timingSafeEqual(candidate, presented) && match) found = index;
    });
    if (found < 0) {
      throw new GatewayHttpError(
        'unauthorized',
        tokens.length === 0
          ? 'no API token is configured on this gateway (GATEWAY_API_TOKENS)'
          : 'a valid "Authorization: Bearer <token>" header is required',
        {},
        { 'www-authenticate': 'Bearer realm="callback-gateway"' },
      );
    }
    return { label: `token#${found + 1}` };
  };
}
