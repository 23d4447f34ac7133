import { randomBytes } from 'node:crypto';
import type { CacheRedis } from './url-cache.js';

/** Where the shared probe key lives when none is configured. */
export const DEFAULT_PROBE_KEY_KEY = 'cbgw:webhook-url:probe-key';

/**
 * The probe key every process of one installation shares: the configured one when given
 * (`WEBHOOK_URL_PROBE_KEY`), otherwise one generated once and kept in Redis (`SET NX`, no
 * expiry), so the worker can verify a tunnel URL through the gateway's probe endpoint, and a
 * cached ngrok URL is never dropped for want of a key. Needs Redis to be reachable.
 */
export async function sharedProbeKey(
  redis: Pick<CacheRedis, 'get' | 'set'>,
  configured?: string,
  key: string = DEFAULT_PROBE_KEY_KEY,
): Promise<string> {
  if (configured) return configured;
  await redis.set(key, randomBytes(24).toString('base64url'), 'NX');
  const shared = await redis.get(key);
  if (!shared) throw new Error('the shared probe key could not be read back from Redis');
  return shared;
}
