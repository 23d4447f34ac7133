import type { AuditLog, Logger } from '@callback-gateway/audit';
import type { Clock } from '@callback-gateway/runtime';
import type { WebhookUrlMetrics } from './metrics.js';
import { loadNgrokSdk } from './ngrok-sdk.js';
import { createNgrokTunnel, type NgrokTunnel } from './ngrok-tunnel.js';
import { URL_SOURCES, type WebhookUrlResolverOptions } from './resolver-options.js';
import { configuredDepth, type Verifier } from './sources.js';
import { raceSignal } from './timing.js';

/** What the resolver lends its tunnel. */
export interface ResolverTunnelWiring {
  verify: Verifier;
  /** Also the default bound of one connect. */
  deadlineMs: number;
  closeTimeoutMs: number;
  onUrlChanged: (oldUrl: string, newUrl: string) => void;
  clock: Clock;
  random: () => number;
  audit: AuditLog;
  logger: Logger;
  metrics: WebhookUrlMetrics;
  secrets: readonly (string | undefined)[];
}

/** `host:port` the tunnel forwards to; a wildcard bind address means loopback. */
function gatewayAddr(host: string | undefined, port: number): string {
  const bind = host && host !== '0.0.0.0' && host !== '::' ? host : '127.0.0.1';
  return `${bind.includes(':') ? `[${bind}]` : bind}:${port}`;
}

/**
 * The resolver's ngrok tunnel, when ngrok is one of its sources and an authtoken is set (else
 * undefined). It is not opened here: the ngrok source opens it on first use. Its health check
 * is the verification of the ngrok source; the real SDK is loaded only when none is injected.
 */
export function createResolverTunnel(
  options: WebhookUrlResolverOptions,
  wiring: ResolverTunnelWiring,
): NgrokTunnel | undefined {
  const ngrok = options.ngrok ?? {};
  if (!(options.sources ?? URL_SOURCES).includes('ngrok') || !ngrok.authtoken) return undefined;
  const injected = ngrok.forward;
  const injectedDisconnect = ngrok.disconnect;
  return createNgrokTunnel({
    forward: injected
      ? () => Promise.resolve(injected)
      : async () => (await loadNgrokSdk()).forward,
    disconnect: injectedDisconnect
      ? () => Promise.resolve(injectedDisconnect)
      : injected
        ? undefined
        : async () => (await loadNgrokSdk()).disconnect,
    authtoken: ngrok.authtoken,
    domain: ngrok.domain,
    serverAddr: ngrok.serverAddr,
    addr: gatewayAddr(options.gatewayHost, options.gatewayPort ?? 8080),
    connectTimeoutMs: ngrok.connectTimeoutMs ?? wiring.deadlineMs,
    healthIntervalMs: ngrok.healthIntervalMs ?? 30_000,
    unhealthyThreshold: ngrok.unhealthyThreshold ?? 2,
    reconnectBackoff: ngrok.reconnectBackoff ?? { baseMs: 1_000, capMs: 60_000 },
    closeTimeoutMs: wiring.closeTimeoutMs,
    healthCheck: async (url, signal) => {
      await wiring.verify(url, configuredDepth(options.verify, 'ngrok') ?? 'probe', signal);
    },
    onUrlChanged: wiring.onUrlChanged,
    clock: wiring.clock,
    random: wiring.random,
    audit: wiring.audit,
    logger: wiring.logger,
    metrics: wiring.metrics,
    secrets: wiring.secrets,
  });
}

/** Closes the tunnel; one that takes longer than `closeTimeoutMs` is logged, not waited for. */
export async function closeTunnel(
  tunnel: NgrokTunnel,
  closeTimeoutMs: number,
  logger: Logger,
): Promise<void> {
  await raceSignal(tunnel.close(), AbortSignal.timeout(closeTimeoutMs)).catch((error: unknown) =>
    logger.warn(
      { err: error },
      `closing the ngrok tunnel did not finish within ${closeTimeoutMs} ms`,
    ),
  );
}
