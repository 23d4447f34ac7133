import { randomUUID } from 'node:crypto';
import type { AuditLog, Logger } from '@callback-gateway/audit';
import { backoffDelay, type BackoffOptions, type Clock } from '@callback-gateway/runtime';
import { WebhookUrlError, toWebhookUrlError } from './errors.js';
import type { TunnelState, WebhookUrlMetrics } from './metrics.js';
import {
  classifyNgrokError,
  type NgrokDisconnect,
  type NgrokForward,
  type NgrokListener,
} from './ngrok-sdk.js';
import { raceSignal, sleep } from './timing.js';

/** Options for {@link createNgrokTunnel} (the resolver fills them in). */
export interface NgrokTunnelOptions {
  forward: () => Promise<NgrokForward>;
  disconnect?: (() => Promise<NgrokDisconnect>) | undefined;
  authtoken: string;
  domain?: string | undefined;
  serverAddr?: string | undefined;
  /** `host:port` of the gateway. */
  addr: string;
  connectTimeoutMs: number;
  healthIntervalMs: number;
  unhealthyThreshold: number;
  /** Fully jittered (see `backoffDelay`). */
  reconnectBackoff: Pick<BackoffOptions, 'baseMs' | 'capMs'>;
  closeTimeoutMs: number;
  /** Verifies the tunnel URL (the resolver's check at the ngrok depth). */
  healthCheck: (url: string, signal: AbortSignal) => Promise<void>;
  onUrlChanged: (oldUrl: string, newUrl: string) => void;
  clock: Clock;
  random: () => number;
  audit: AuditLog;
  logger: Logger;
  metrics: WebhookUrlMetrics;
  secrets: readonly (string | undefined)[];
}

/** A listener for tunnel state changes. */
export type TunnelStatusListener = (state: TunnelState, previous: TunnelState) => void;

/** The supervised ngrok tunnel. */
export interface NgrokTunnel {
  readonly state: TunnelState;
  /** The URL while the tunnel is up (or degraded). */
  readonly url: string | undefined;
  /** Returns the tunnel URL, starting the tunnel when needed. Bounded by `signal`. */
  ensureUrl(signal: AbortSignal): Promise<string>;
  onStatusChange(listener: TunnelStatusListener): () => void;
  close(): Promise<void>;
}

/** Starts, health-checks, reconnects and closes one ngrok tunnel. */
export function createNgrokTunnel(options: NgrokTunnelOptions): NgrokTunnel {
  const { clock, audit, logger, metrics } = options;
  const listeners = new Set<TunnelStatusListener>();
  const closing = new AbortController();
  let state: TunnelState = 'idle';
  let listener: NgrokListener | undefined;
  let url: string | undefined;
  let lastUrl: string | undefined;
  let sessionId: string | undefined;
  let upAt = 0;
  let generation = 0;
  let starting: Promise<string> | undefined;
  let reconnecting: Promise<void> | undefined;
  let healthTimer: unknown;
  let healthRunning = false;
  let failures = 0;
  let closePromise: Promise<void> | undefined;

  const setState = (next: TunnelState) => {
    if (next === state) return;
    const previous = state;
    state = next;
    metrics.setTunnelState(next);
    for (const each of listeners) {
      try {
        each(next, previous);
      } catch (error) {
        logger.warn({ err: error }, 'a tunnel status listener threw; ignored');
      }
    }
  };

  const recordDown = (phase: 'start_failed' | 'lost' | 'closed', reason: string, code?: string) => {
    const id = phase === 'start_failed' ? randomUUID() : (sessionId ?? randomUUID());
    audit.record({
      type: 'tunnel.down',
      correlation: { tunnel_session_id: id },
      data: {
        provider: 'ngrok',
        phase,
        reason: reason.slice(0, 2000),
        ...(code ? { code } : {}),
        ...(phase !== 'start_failed' && url ? { url } : {}),
        ...(phase !== 'start_failed' && upAt ? { up_for_ms: Math.max(0, clock.now() - upAt) } : {}),
      },
    });
    if (phase !== 'start_failed') sessionId = undefined;
  };

  const markUp = (newUrl: string) => {
    sessionId = randomUUID();
    upAt = clock.now();
    url = newUrl;
    failures = 0;
    audit.record({
      type: 'tunnel.up',
      correlation: { tunnel_session_id: sessionId },
      data: {
        provider: 'ngrok',
        url: newUrl,
        ...(options.domain ? { domain: options.domain } : {}),
      },
    });
    logger.info({ url: newUrl, tunnelSessionId: sessionId }, `ngrok tunnel up at ${newUrl}`);
    if (lastUrl && lastUrl !== newUrl) options.onUrlChanged(lastUrl, newUrl);
    lastUrl = newUrl;
    setState('up');
  };

  const onSdkStatus = (gen: number) => (status: string) => {
    if (gen !== generation || closing.signal.aborted) return;
    if (status === 'closed' && (state === 'up' || state === 'degraded')) {
      logger.warn({ url }, 'ngrok session lost; the SDK reconnects by itself');
      recordDown('lost', 'the ngrok session was lost (SDK reported "closed")');
      url = undefined;
      failures = 0;
      setState('reconnecting');
    } else if (status === 'connected' && state === 'reconnecting' && !reconnecting) {
      const current = listener?.url();
      if (current) markUp(current);
    }
  };

  /** One forward() bounded by connectTimeoutMs; a late listener is closed. */
  const connectOnce = async (): Promise<string> => {
    const gen = ++generation;
    const forward = await options.forward();
    let timer: unknown;
    const pending = Promise.resolve().then(() =>
      forward({
        addr: options.addr,
        authtoken: options.authtoken,
        force_new_session: true,
        onStatusChange: onSdkStatus(gen),
        ...(options.domain ? { domain: options.domain } : {}),
        ...(options.serverAddr ? { server_addr: options.serverAddr } : {}),
      }),
    );
    const timeout = new Promise<never>((_, reject) => {
      timer = clock.setTimeout(
        () =>
          reject(
            new WebhookUrlError(
              'WEBHOOK_URL_NGROK_CONNECT',
              `ngrok did not answer within ${options.connectTimeoutMs} ms (its connect has no timeout of its own; packets may be dropped). Check outbound network access to ngrok; it is retried with backoff.`,
              { retryable: true },
            ),
          ),
        options.connectTimeoutMs,
      );
    });
    let opened: NgrokListener;
    try {
      opened = await Promise.race([pending, timeout]);
    } catch (error) {
      // The native connect cannot be cancelled: close whatever it opens later.
      pending.then(
        (late) => late.close().catch(() => undefined),
        () => undefined,
      );
      throw error instanceof WebhookUrlError ? error : classifyNgrokError(error, options.secrets);
    } finally {
      clock.clearTimeout(timer);
    }
    const openedUrl = opened.url();
    if (gen !== generation || closing.signal.aborted || !openedUrl) {
      await opened.close().catch(() => undefined);
      if (closing.signal.aborted)
        throw new WebhookUrlError(
          'WEBHOOK_URL_CLOSED',
          'The resolver was closed while the ngrok tunnel was starting.',
        );
      throw new WebhookUrlError(
        'WEBHOOK_URL_NGROK_CONNECT',
        'ngrok opened a listener without a URL; it is retried.',
        { retryable: true },
      );
    }
    listener = opened;
    return openedUrl;
  };

  const closeListener = async () => {
    const old = listener;
    listener = undefined;
    if (!old) return;
    await raceSignal(old.close(), AbortSignal.timeout(options.closeTimeoutMs)).catch(
      (error: unknown) =>
        logger.warn({ err: error }, 'closing the ngrok listener failed or timed out'),
    );
  };

  const startHealthChecks = () => {
    if (healthTimer !== undefined) return;
    healthTimer = clock.setInterval(() => void healthTick(), options.healthIntervalMs);
  };

  const reconnect = (why: string): Promise<void> => {
    reconnecting ??= (async () => {
      if (state === 'up' || state === 'degraded') recordDown('lost', why);
      url = undefined;
      setState('reconnecting');
      logger.warn({ reason: why }, `reconnecting the ngrok tunnel: ${why}`);
      await closeListener();
      for (let attempt = 0; !closing.signal.aborted; attempt++) {
        metrics.reconnects.inc();
        try {
          markUp(await connectOnce());
          return;
        } catch (error) {
          const typed = toWebhookUrlError(
            error,
            'WEBHOOK_URL_NGROK_CONNECT',
            'ngrok reconnect failed',
          );
          if (closing.signal.aborted) return;
          if (!typed.retryable) {
            recordDown('start_failed', typed.message, typed.code);
            logger.error({ code: typed.code }, `ngrok tunnel down: ${typed.message}`);
            setState('down');
            return;
          }
          const delay = backoffDelay(
            attempt,
            { ...options.reconnectBackoff, jitter: 'full' },
            options.random,
          );
          logger.warn(
            { code: typed.code, retryInMs: delay },
            `ngrok reconnect failed: ${typed.message}`,
          );
          await sleep(delay, clock, closing.signal).catch(() => undefined);
        }
      }
    })().finally(() => {
      reconnecting = undefined;
    });
    return reconnecting;
  };

  const healthTick = async () => {
    if (healthRunning || reconnecting || closing.signal.aborted) return;
    healthRunning = true;
    try {
      if (state === 'reconnecting') {
        // The SDK is reconnecting by itself; take over when it takes too long.
        if (++failures >= options.unhealthyThreshold)
          void reconnect('the SDK did not reconnect in time');
        return;
      }
      if (state !== 'up' && state !== 'degraded') return;
      const current = listener?.url();
      try {
        if (!current) throw new Error('the listener has no URL any more');
        await options.healthCheck(current, AbortSignal.timeout(options.connectTimeoutMs));
        failures = 0;
        if (state === 'degraded') setState('up');
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        failures++;
        if (failures >= options.unhealthyThreshold) {
          void reconnect(`health check failed ${failures} times: ${reason}`);
        } else {
          logger.warn({ failures }, `ngrok tunnel health check failed: ${reason}`);
          setState('degraded');
        }
      }
    } finally {
      healthRunning = false;
    }
  };

  const start = (): Promise<string> => {
    starting ??= (async () => {
      setState('starting');
      try {
        const started = await connectOnce();
        markUp(started);
        startHealthChecks();
        return started;
      } catch (error) {
        const typed = toWebhookUrlError(error, 'WEBHOOK_URL_NGROK_CONNECT', 'ngrok start failed');
        if (!closing.signal.aborted) {
          recordDown('start_failed', typed.message, typed.code);
          logger.error({ code: typed.code }, `ngrok tunnel did not start: ${typed.message}`);
          setState('down');
        }
        throw typed;
      }
    })().finally(() => {
      starting = undefined;
    });
    return starting;
  };

  return {
    get state() {
      return state;
    },
    get url() {
      return state === 'up' || state === 'degraded' ? url : undefined;
    },
    async ensureUrl(signal) {
      if (closing.signal.aborted) {
        throw new WebhookUrlError(
          'WEBHOOK_URL_CLOSED',
          'The resolver is closed; create a new one.',
        );
      }
      if ((state === 'up' || state === 'degraded') && url) return url;
      if (reconnecting) {
        await raceSignal(reconnecting, signal);
        if (url) return url;
      }
      if (state === 'reconnecting') {
        throw new WebhookUrlError(
          'WEBHOOK_URL_TUNNEL_DOWN',
          'The ngrok tunnel is reconnecting; its URL is not usable until it is back. Retry shortly.',
          { retryable: true },
        );
      }
      return raceSignal(start(), signal);
    },
    onStatusChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    close() {
      closePromise ??= (async () => {
        const wasUp = (state === 'up' || state === 'degraded') && listener;
        closing.abort();
        generation++;
        if (healthTimer !== undefined) clock.clearInterval(healthTimer);
        const closingUrl = url;
        await closeListener();
        if (closingUrl && options.disconnect) {
          const disconnect = await options.disconnect();
          await raceSignal(
            disconnect(closingUrl),
            AbortSignal.timeout(options.closeTimeoutMs),
          ).catch(() => undefined);
        }
        if (wasUp) recordDown('closed', 'the resolver was closed');
        url = undefined;
        setState('closed');
      })();
      return closePromise;
    },
  };
}
