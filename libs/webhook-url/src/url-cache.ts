import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';
import { WebhookUrlError } from './errors.js';
import { raceSignal } from './timing.js';

/** The Redis key of the last verified URL. @defaultValue */
export const DEFAULT_CACHE_KEY = 'cbgw:webhook-url:last';

/** What the cache keeps: the last resolution that passed verification. */
export const cachedResolutionSchema = z
  .object({
    baseUrl: z.string().min(1).max(2048),
    source: z.enum(['cloud_config', 'ngrok']),
    verifiedBy: z.enum(['syntax', 'dns', 'probe']),
    insecure: z.boolean(),
    resolvedAt: z.string(),
  })
  .strict();

/** An entry of the URL cache. */
export type CachedResolution = z.infer<typeof cachedResolutionSchema>;

/** The part of an ioredis client the cache uses (a borrowed connection; never closed here). */
export type CacheRedis = Pick<Redis | Cluster, 'get' | 'set' | 'del'> & {
  readonly status: Redis['status'] | Cluster['status'];
};

/** Reads and writes the last verified URL in Redis. */
export interface UrlCache {
  read(signal: AbortSignal): Promise<CachedResolution>;
  write(entry: CachedResolution, signal: AbortSignal): Promise<void>;
  /** Deletes the entry if it still holds `baseUrl` (another process may have replaced it). */
  forget(baseUrl: string, signal: AbortSignal): Promise<void>;
}

function unavailable(what: string, error: unknown): WebhookUrlError {
  const message = error instanceof Error ? error.message : String(error);
  return new WebhookUrlError(
    'WEBHOOK_URL_CACHE_UNAVAILABLE',
    `Could not ${what} the URL cache in Redis (${message}). Check that Redis is up and REDIS_URL points at it; the cache is retried.`,
    { retryable: true, cause: error },
  );
}

/**
 * A URL cache on a borrowed ioredis connection. Give it a client with `enableOfflineQueue:
 * false` so commands fail at once while Redis is away instead of queueing; every command is
 * also bounded by the caller's signal.
 */
export function createUrlCache(redis: CacheRedis, key: string, ttlSeconds: number): UrlCache {
  return {
    async read(signal) {
      let raw: string | null;
      try {
        raw = await raceSignal(redis.get(key), signal);
      } catch (error) {
        if (signal.aborted) throw error;
        throw unavailable('read', error);
      }
      if (raw === null) {
        throw new WebhookUrlError(
          'WEBHOOK_URL_CACHE_MISS',
          'No verified URL is cached (nothing resolved yet, or the entry expired or was refused on re-verification).',
        );
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = undefined;
      }
      const entry = cachedResolutionSchema.safeParse(parsed);
      if (!entry.success) {
        await raceSignal(redis.del(key), signal).catch(() => undefined);
        throw new WebhookUrlError(
          'WEBHOOK_URL_CACHE_MISS',
          `The cached entry under ${key} is malformed and was deleted.`,
        );
      }
      return entry.data;
    },
    async write(entry, signal) {
      try {
        await raceSignal(redis.set(key, JSON.stringify(entry), 'EX', ttlSeconds), signal);
      } catch (error) {
        throw unavailable('write', error);
      }
    },
    async forget(baseUrl, signal) {
      try {
        const raw = await raceSignal(redis.get(key), signal);
        if (raw !== null && raw.includes(JSON.stringify(baseUrl))) {
          await raceSignal(redis.del(key), signal);
        }
      } catch (error) {
        throw unavailable('update', error);
      }
    },
  };
}

/**
 * The last verified URL in the cache, as the process that verified it wrote it, without
 * verifying it again: for comparing (a worker finding registrations issued under an older public
 * URL), never for handing out a callback URL. Undefined when nothing valid is cached.
 * @throws WebhookUrlError `WEBHOOK_URL_CACHE_UNAVAILABLE` when Redis does not answer in time
 */
export async function readCachedResolution(
  redis: CacheRedis,
  options: {
    /** @defaultValue `DEFAULT_CACHE_KEY` */
    key?: string;
    /** @defaultValue a 2 s timeout */
    signal?: AbortSignal;
  } = {},
): Promise<CachedResolution | undefined> {
  const cache = createUrlCache(redis, options.key ?? DEFAULT_CACHE_KEY, 1);
  try {
    return await cache.read(options.signal ?? AbortSignal.timeout(2_000));
  } catch (error) {
    if (error instanceof WebhookUrlError && error.code === 'WEBHOOK_URL_CACHE_MISS')
      return undefined;
    throw error;
  }
}
