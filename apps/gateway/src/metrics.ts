import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { TERMINAL_EVENT_TYPES } from './callbacks/decode.js';

/** Event types counted by name; anything else is counted as `other` (bounded label values). */
const KNOWN_EVENT_TYPES: ReadonlySet<string> = new Set([
  'parse.pending',
  'parse.running',
  ...TERMINAL_EVENT_TYPES,
]);

/** The event type as a metric label: known types by name, others as `other`, none as `none`. */
export function eventTypeLabel(eventType: string | undefined): string {
  if (eventType === undefined) return 'none';
  return KNOWN_EVENT_TYPES.has(eventType) ? eventType : 'other';
}

/** The gateway's own metrics (`cbgw_` prefix). */
export function createGatewayMetrics(registry: Registry) {
  const registers = [registry];
  return {
    callbacks: new Counter({
      name: 'cbgw_callbacks_total',
      help: 'Callbacks received, by format, event type and outcome (stored, duplicate, rejected).',
      labelNames: ['format', 'event_type', 'outcome'],
      registers,
    }),
    rejections: new Counter({
      name: 'cbgw_callback_rejections_total',
      help: 'Callbacks refused, by reason (the API error code).',
      labelNames: ['reason'],
      registers,
    }),
    ackDuration: new Histogram({
      name: 'cbgw_callback_ack_duration_seconds',
      help: 'Time from a callback request to its answer, by outcome.',
      labelNames: ['outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    callbackInflightBytes: new Gauge({
      name: 'cbgw_callback_inflight_bytes',
      help: 'Bytes of callback bodies held now (declared lengths of callbacks being received or stored).',
      registers,
    }),
    callbackInflightLimitBytes: new Gauge({
      name: 'cbgw_callback_inflight_limit_bytes',
      help: 'Most bytes of callback bodies held at once (GATEWAY_CALLBACK_INFLIGHT_BYTES); beyond it callbacks get 503 intake_busy.',
      registers,
    }),
    registrations: new Counter({
      name: 'cbgw_registrations_created_total',
      help: 'Registrations created.',
      registers,
    }),
    registrationRefusals: new Counter({
      name: 'cbgw_registration_refusals_total',
      help: 'Registration requests refused, by reason (the API error code).',
      labelNames: ['reason'],
      registers,
    }),
    webhookUrlUnavailable: new Counter({
      name: 'cbgw_webhook_url_unavailable_total',
      help: 'Requests refused because no verified public callback URL was available, by purpose.',
      labelNames: ['purpose'],
      registers,
    }),
    authFailures: new Counter({
      name: 'cbgw_auth_failures_total',
      help: 'API requests refused for a missing or wrong bearer token (or session), answered 401 or 429.',
      registers,
    }),
    authRateLimited: new Counter({
      name: 'cbgw_auth_rate_limited_total',
      help: 'Failed authentications answered 429: their client address is over the failed-auth limit.',
      registers,
    }),
    crossOriginRefusals: new Counter({
      name: 'cbgw_cross_origin_refusals_total',
      help: "State-changing requests with the dashboard's session cookie refused for coming from another origin.",
      registers,
    }),
    storageUnavailable: new Counter({
      name: 'cbgw_storage_unavailable_total',
      help: 'Requests answered 503 because Redis could not be reached, by route.',
      labelNames: ['route'],
      registers,
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
