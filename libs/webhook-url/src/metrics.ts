import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Every tunnel state, in lifecycle order. */
export const TUNNEL_STATES = [
  'idle',
  'starting',
  'up',
  'degraded',
  'reconnecting',
  'down',
  'closed',
] as const;

/** The ngrok tunnel's state: `idle` before first use, `closed` after `close()`. */
export type TunnelState = (typeof TUNNEL_STATES)[number];

/** The metrics of one resolver. Without a registry they are kept but never exposed. */
export interface WebhookUrlMetrics {
  resolutions: Counter<'source' | 'outcome'>;
  duration: Histogram<'outcome'>;
  insecure: Gauge;
  tunnelState: Gauge<'state'>;
  reconnects: Counter;
  urlChanges: Counter<'source'>;
  setTunnelState(state: TunnelState): void;
}

/** Creates the `cbgw_webhook_url_*` and `cbgw_tunnel_*` metrics in `registry`. */
export function createWebhookUrlMetrics(registry: Registry | undefined): WebhookUrlMetrics {
  const registers = registry ? [registry] : [];
  const tunnelState = new Gauge({
    name: 'cbgw_tunnel_state',
    help: 'The ngrok tunnel state: 1 for the current state, 0 for the others.',
    labelNames: ['state'],
    registers,
  });
  const setTunnelState = (state: TunnelState) => {
    for (const each of TUNNEL_STATES) tunnelState.set({ state: each }, each === state ? 1 : 0);
  };
  setTunnelState('idle');
  return {
    resolutions: new Counter({
      name: 'cbgw_webhook_url_resolutions_total',
      help: 'Public base URL resolutions by source and outcome (success, memoized, not_configured, refused, failed; source "none" for a failed resolve).',
      labelNames: ['source', 'outcome'],
      registers,
    }),
    duration: new Histogram({
      name: 'cbgw_webhook_url_resolve_duration_seconds',
      help: 'Time to resolve a public base URL (fresh resolutions only), by outcome.',
      labelNames: ['outcome'],
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    insecure: new Gauge({
      name: 'cbgw_webhook_url_insecure',
      help: '1 while the current public base URL is plain http (development switch), else 0.',
      registers,
    }),
    tunnelState,
    reconnects: new Counter({
      name: 'cbgw_tunnel_reconnects_total',
      help: 'Reconnect attempts of the ngrok tunnel started by this library.',
      registers,
    }),
    urlChanges: new Counter({
      name: 'cbgw_webhook_url_changes_total',
      help: 'Times the public base URL changed (e.g. a tunnel reconnected under a new URL).',
      labelNames: ['source'],
      registers,
    }),
    setTunnelState,
  };
}
