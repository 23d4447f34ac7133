import type { AuditLog, Logger } from '@callback-gateway/audit';
import type { Clock } from '@callback-gateway/runtime';
import type { UrlSourceName } from './errors.js';
import type { WebhookUrlMetrics } from './metrics.js';
import type { NgrokTunnel } from './ngrok-tunnel.js';
import type { WebhookUrlResolution } from './resolver-options.js';
import type { UrlCache } from './url-cache.js';

/** What the resolver's memory needs. */
export interface ResolutionMemoryOptions {
  /** Age under which the last good resolution is served without verifying again. */
  revalidateAfterMs: number;
  /** The shared cache in Redis, if any: other processes resolve from it. */
  cache: UrlCache | undefined;
  clock: Clock;
  audit: AuditLog;
  logger: Logger;
  metrics: WebhookUrlMetrics;
}

/**
 * The cache step: the last good resolution (kept in memory, valid while its source still
 * serves it, served as is while younger than `revalidateAfterMs`), the announcement when the
 * URL changes, and the shared cache in Redis that other processes resolve from.
 */
export interface ResolutionMemory {
  /** The last good resolution while it is valid (an ngrok URL only while the tunnel serves it). */
  current(): WebhookUrlResolution | undefined;
  /** {@link ResolutionMemory.current} while it is recent enough to be served without verifying. */
  recent(): WebhookUrlResolution | undefined;
  /** Keeps a new resolution, and announces it when it changes the URL. */
  remember(resolution: WebhookUrlResolution): void;
  /**
   * Writes a resolution to the shared cache for the other processes (within 500 ms; a failure is
   * logged, never thrown). One that came from the cache is not written back.
   */
  share(resolution: WebhookUrlResolution, signal: AbortSignal): Promise<void>;
  /** Records a change of the public base URL (audit, metric, log). */
  announceChange(oldUrl: string, newUrl: string, source: UrlSourceName): void;
  /** Follows the tunnel: a URL it gave is valid only while the tunnel is up at that URL. */
  follow(tunnel: Pick<NgrokTunnel, 'url' | 'onStatusChange'>): void;
  /** Drops the remembered resolution (the resolver closes). */
  forget(): void;
}

/** Creates the {@link ResolutionMemory} of one resolver. */
export function createResolutionMemory(options: ResolutionMemoryOptions): ResolutionMemory {
  const { clock, audit, logger, metrics, cache } = options;
  let memo: { resolution: WebhookUrlResolution; at: number } | undefined;
  let announcedUrl: string | undefined;
  let tunnelUrl = (): string | undefined => undefined;

  const announceChange = (oldUrl: string, newUrl: string, source: UrlSourceName) => {
    audit.record({
      type: 'webhook_url.changed',
      data: { old_url: oldUrl, new_url: newUrl, source },
    });
    metrics.urlChanges.inc({ source });
    logger.warn({ oldUrl, newUrl, source }, `public base URL changed from ${oldUrl} to ${newUrl}`);
    announcedUrl = newUrl;
  };

  const current = (): WebhookUrlResolution | undefined => {
    if (!memo) return undefined;
    if (memo.resolution.source === 'ngrok' && tunnelUrl() !== memo.resolution.baseUrl) {
      memo = undefined;
      return undefined;
    }
    return memo.resolution;
  };

  return {
    current,
    recent() {
      const remembered = current();
      return remembered && memo && clock.now() - memo.at < options.revalidateAfterMs
        ? remembered
        : undefined;
    },
    remember(resolution) {
      memo = { resolution, at: clock.now() };
      if (announcedUrl && announcedUrl !== resolution.baseUrl)
        announceChange(announcedUrl, resolution.baseUrl, resolution.source);
      announcedUrl = resolution.baseUrl;
    },
    async share(resolution, signal) {
      if (!cache || resolution.source === 'cache') return;
      const entry = {
        baseUrl: resolution.baseUrl,
        source: resolution.source,
        verifiedBy: resolution.verifiedBy,
        insecure: resolution.insecure,
        resolvedAt: resolution.resolvedAt.toISOString(),
      };
      await cache
        .write(entry, AbortSignal.any([signal, AbortSignal.timeout(500)]))
        .catch((error: unknown) =>
          logger.warn(
            { code: (error as { code?: unknown }).code },
            'could not store the resolved URL in the cache; resolution continues',
          ),
        );
    },
    announceChange,
    follow(tunnel) {
      tunnelUrl = () => tunnel.url;
      tunnel.onStatusChange((state) => {
        if (
          memo?.resolution.source === 'ngrok' &&
          (state !== 'up' || memo.resolution.baseUrl !== tunnel.url)
        ) {
          memo = undefined;
        }
      });
    },
    forget() {
      memo = undefined;
    },
  };
}
