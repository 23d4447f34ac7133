import type { AuditLog, Logger } from '@callback-gateway/audit';
import type { BackoffOptions, Clock } from '@callback-gateway/runtime';
import type { Registry } from 'prom-client';
import type { Dispatcher } from 'undici';
import type { UrlSourceName } from './errors.js';
import type { TunnelState } from './metrics.js';
import type { NgrokDisconnect, NgrokForward } from './ngrok-sdk.js';
import type { CacheRedis } from './url-cache.js';
import type { LookupFunction, VerificationDepth } from './verify.js';

/** Every source, in the default order. */
export const URL_SOURCES = [
  'cloud_config',
  'ngrok',
  'cache',
] as const satisfies readonly UrlSourceName[];

/** ngrok settings. The tunnel is only started when `authtoken` is set. */
export interface NgrokOptions {
  /** The ngrok authtoken (`NGROK_AUTHTOKEN`). Never logged. */
  authtoken?: string | undefined;
  /** A reserved domain (`NGROK_DOMAIN`): the URL then survives reconnects. */
  domain?: string | undefined;
  /** Another ngrok ingress (`server_addr`): custom ingress, or tests on loopback. */
  serverAddr?: string | undefined;
  /**
   * Health-check interval of an up tunnel (`NGROK_HEALTH_INTERVAL_MS`). With depth `probe`
   * every check is one request through the public URL (it counts against ngrok quotas).
   * @defaultValue 30_000
   */
  healthIntervalMs?: number;
  /**
   * Consecutive failed checks before the tunnel is reconnected (the first makes it `degraded`).
   * @defaultValue 2
   */
  unhealthyThreshold?: number;
  /**
   * Longest wait for one connect (the SDK has no timeout of its own). Resolves are also bounded
   * by their own deadline.
   * @defaultValue the resolve deadline
   */
  connectTimeoutMs?: number;
  /**
   * Backoff between reconnects, fully jittered.
   * @defaultValue `{ baseMs: 1_000, capMs: 60_000 }`
   */
  reconnectBackoff?: Pick<BackoffOptions, 'baseMs' | 'capMs'>;
  /** `forward()` of `@ngrok/ngrok`. @defaultValue the real SDK's, loaded on first use */
  forward?: NgrokForward;
  /** `disconnect()` of `@ngrok/ngrok`, called on close for the tunnel's URL.
   * @defaultValue the real SDK's when `forward` is not injected, else none */
  disconnect?: NgrokDisconnect;
}

/** Options for `createWebhookUrlResolver`. */
export interface WebhookUrlResolverOptions {
  /**
   * Sources to try, in order.
   * @defaultValue `['cloud_config', 'ngrok', 'cache']`
   */
  sources?: readonly UrlSourceName[];
  /** The explicit public base URL (`PUBLIC_BASE_URL`) for the `cloud_config` source. */
  publicBaseUrl?: string | undefined;
  ngrok?: NgrokOptions;
  /**
   * Port of the gateway the tunnel forwards to (`GATEWAY_PORT`).
   * @defaultValue 8080
   */
  gatewayPort?: number;
  /**
   * Host of the gateway the tunnel forwards to (`GATEWAY_HOST`); a wildcard bind address
   * (`0.0.0.0`, `::`) means loopback.
   * @defaultValue `'127.0.0.1'`
   */
  gatewayHost?: string;
  /**
   * Verification depth (`WEBHOOK_URL_VERIFY`), for every source or per source.
   * @defaultValue `dns` for cloud_config, `probe` for ngrok; for cache `probe` when the entry
   * came from ngrok (a stale tunnel URL may now route to someone else), else `dns`
   */
  verify?: VerificationDepth | Partial<Record<UrlSourceName, VerificationDepth>> | undefined;
  /**
   * Development switch (`WEBHOOK_URL_ALLOW_INSECURE_HTTP`): accept plain http, marked insecure.
   * @defaultValue false
   */
  allowInsecureHttp?: boolean;
  /** @defaultValue `CALLBACK_PATH_RESERVE` (68) */
  callbackPathReserve?: number;
  /** Shared key of the probe protocol (`WEBHOOK_URL_PROBE_KEY`). Never logged. */
  probeKey?: string | undefined;
  /**
   * Deadline of one resolve (`WEBHOOK_URL_DEADLINE_MS`).
   * @defaultValue 10_000
   */
  deadlineMs?: number;
  /**
   * Age under which the last good resolution is returned without verifying again.
   * @defaultValue 60_000
   */
  revalidateAfterMs?: number;
  /**
   * Retries of transient failures within one resolve (each bounded by the deadline), with a
   * fully jittered backoff.
   * @defaultValue `{ attempts: 3, baseMs: 200, capMs: 2_000 }`
   */
  retry?: Pick<BackoffOptions, 'baseMs' | 'capMs'> & { attempts?: number };
  /** Borrowed Redis connection for the `cache` source (use `enableOfflineQueue: false`). */
  redis?: CacheRedis | undefined;
  /** @defaultValue `'cbgw:webhook-url:last'` */
  cacheKey?: string;
  /**
   * TTL of the cache entry (`WEBHOOK_URL_CACHE_TTL_S`).
   * @defaultValue 86_400
   */
  cacheTtlSeconds?: number;
  /** @defaultValue `dns.promises.lookup` */
  lookup?: LookupFunction;
  /** undici dispatcher for probes. @defaultValue undici's global dispatcher */
  dispatcher?: Dispatcher;
  audit: AuditLog;
  logger: Logger;
  /** prom-client registry for the metrics; without one they are not exposed. */
  registry?: Registry | undefined;
  /** @defaultValue `systemClock` of `@callback-gateway/runtime` */
  clock?: Clock;
  /** Jitter source. @defaultValue `Math.random` */
  random?: () => number;
  /**
   * Longest time `close()` waits for the tunnel to close.
   * @defaultValue 2_000
   */
  closeTimeoutMs?: number;
}

/** A public base URL and how it was obtained. */
export interface WebhookUrlResolution {
  /** Normalised base URL, no trailing slash. */
  baseUrl: string;
  source: UrlSourceName;
  verifiedBy: VerificationDepth;
  resolvedAt: Date;
  /** True only when plain http was allowed by the development switch. */
  insecure: boolean;
}

/** Options of one `resolve()` call. */
export interface ResolveOptions {
  /** Stops waiting (the shared resolution continues for other callers). */
  signal?: AbortSignal;
  /** Skip the remembered resolution and verify again. @defaultValue false */
  fresh?: boolean;
  /** Why the URL is needed (written to the audit record of a failure). */
  purpose?: string;
}

/** A snapshot for health endpoints. */
export interface WebhookUrlStatus {
  tunnel: TunnelState;
  current: WebhookUrlResolution | undefined;
  lastFailure: { code: string; message: string; at: Date } | undefined;
}

/** Gives a public callback base URL, or a typed reason why not. */
export interface WebhookUrlResolver {
  resolve(options?: ResolveOptions): Promise<WebhookUrlResolution>;
  /** The last good resolution while it is valid (no I/O). */
  current(): WebhookUrlResolution | undefined;
  status(): WebhookUrlStatus;
  /** Subscribes to tunnel state changes; returns the unsubscribe function. */
  onStatusChange(listener: (state: TunnelState, previous: TunnelState) => void): () => void;
  /** Closes the tunnel it opened and stops health checks. Idempotent, bounded. */
  close(): Promise<void>;
}
