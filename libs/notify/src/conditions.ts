import type { AuditEvent } from '@callback-gateway/audit';

/**
 * The operational conditions the notifier reports, in a stable order (docs and tests list the
 * same). Each is a *state* (opened, then recovered when it clears) or a *fact* (reported once,
 * nothing to recover from).
 */
export const NOTIFY_CONDITIONS = [
  'delivery_dead_lettered',
  'pipeline_failing',
  'callbacks_overdue',
  'public_url_unavailable',
  'public_url_changed',
  'tunnel_down',
] as const;
export type ConditionName = (typeof NOTIFY_CONDITIONS)[number];

/** How urgent a notification is. */
export type Severity = 'critical' | 'warning' | 'info';

/** What a condition is, and how it is reported. */
export interface ConditionInfo {
  kind: 'state' | 'fact';
  severity: Severity;
  /** Facts of this condition are gathered over a window and reported as one message. */
  batched: boolean;
}

export const CONDITION_INFO: Readonly<Record<ConditionName, ConditionInfo>> = {
  delivery_dead_lettered: { kind: 'fact', severity: 'warning', batched: true },
  pipeline_failing: { kind: 'state', severity: 'critical', batched: false },
  callbacks_overdue: { kind: 'fact', severity: 'warning', batched: true },
  public_url_unavailable: { kind: 'state', severity: 'critical', batched: false },
  public_url_changed: { kind: 'fact', severity: 'warning', batched: false },
  tunnel_down: { kind: 'state', severity: 'warning', batched: false },
};

/** Conditions the gateway observes (it owns the tunnel and resolves the public URL). */
export const GATEWAY_CONDITIONS: readonly ConditionName[] = [
  'public_url_unavailable',
  'public_url_changed',
  'tunnel_down',
];
/** Conditions the worker observes (deliveries, breakers, the overdue sweeper). */
export const WORKER_CONDITIONS: readonly ConditionName[] = [
  'delivery_dead_lettered',
  'pipeline_failing',
  'callbacks_overdue',
];

/** What one audit event says about a condition. */
export interface Signal {
  /** `open` and `clear` move a state condition; `fact` reports one occurrence. */
  kind: 'open' | 'clear' | 'fact';
  condition: ConditionName;
  /** Identifies one instance of the condition (deduplication is per key). */
  key: string;
  /** When the audit event happened. */
  at: string;
  /** For batched facts: the id listed in the batch message (a registration id). */
  item?: string;
  /** Small, secret-free facts for the message (the audit log has already redacted them). */
  details: Record<string, unknown>;
}

/** The condition key of the single public URL of a deployment. */
const PUBLIC_URL_KEY = 'public_url_unavailable:public_url';

/**
 * Maps an audit event to the condition it opens, clears or reports, or `undefined` when it
 * says nothing operational. Pure: all state lives in the notifier.
 */
export function signalOf(event: AuditEvent): Signal | undefined {
  const at = event.at;
  switch (event.type) {
    case 'delivery.dead_lettered': {
      const registration = event.correlation.registration_id ?? event.correlation.delivery_id;
      if (!registration) return undefined;
      return {
        kind: 'fact',
        condition: 'delivery_dead_lettered',
        key: `delivery_dead_lettered:${registration}`,
        at,
        item: registration,
        details: {
          delivery_id: event.correlation.delivery_id,
          attempts: event.data.attempts,
          last_error: event.data.last_error.slice(0, 300),
        },
      };
    }
    case 'breaker.state_changed': {
      const { destination_origin: origin, destination, to, from, reason } = event.data;
      if (to === 'half_open') return undefined;
      return {
        kind: to === 'open' ? 'open' : 'clear',
        condition: 'pipeline_failing',
        key: `pipeline_failing:${destination ?? origin}`,
        at,
        details: {
          destination_origin: origin,
          ...(destination !== undefined && { destination }),
          from,
          to,
          reason,
        },
      };
    }
    case 'callback.overdue': {
      const registration = event.correlation.registration_id;
      if (!registration) return undefined;
      return {
        kind: 'fact',
        condition: 'callbacks_overdue',
        key: `callbacks_overdue:${registration}`,
        at,
        item: registration,
        details: { deadline: event.data.deadline, waited_s: event.data.waited_s },
      };
    }
    case 'webhook_url.refused':
      return {
        kind: 'open',
        condition: 'public_url_unavailable',
        key: PUBLIC_URL_KEY,
        at,
        details: {
          ...(event.data.purpose !== undefined && { purpose: event.data.purpose }),
          reasons: event.data.reasons
            .slice(0, 5)
            .map((r) => ({ source: r.source, code: r.code, reason: r.reason.slice(0, 300) })),
        },
      };
    case 'webhook_url.resolved':
      return {
        kind: 'clear',
        condition: 'public_url_unavailable',
        key: PUBLIC_URL_KEY,
        at,
        details: { base_url: event.data.base_url, source: event.data.source },
      };
    case 'webhook_url.changed':
      return {
        kind: 'fact',
        condition: 'public_url_changed',
        key: `public_url_changed:${event.data.old_url}->${event.data.new_url}`,
        at,
        details: {
          old_url: event.data.old_url,
          new_url: event.data.new_url,
          source: event.data.source,
        },
      };
    case 'tunnel.down':
      // A deliberate close (shutdown) is not an outage.
      if (event.data.phase === 'closed') return undefined;
      return {
        kind: 'open',
        condition: 'tunnel_down',
        key: `tunnel_down:${event.data.provider}`,
        at,
        details: {
          provider: event.data.provider,
          phase: event.data.phase,
          reason: event.data.reason.slice(0, 300),
          ...(event.data.code !== undefined && { code: event.data.code }),
          ...(event.data.url !== undefined && { url: event.data.url }),
        },
      };
    case 'tunnel.up':
      return {
        kind: 'clear',
        condition: 'tunnel_down',
        key: `tunnel_down:${event.data.provider}`,
        at,
        details: { provider: event.data.provider, url: event.data.url },
      };
    default:
      return undefined;
  }
}
