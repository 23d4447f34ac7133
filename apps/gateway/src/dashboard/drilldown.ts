import { createRedisAuditStore, type RedisAuditStore } from '@callback-gateway/audit';
import { auditPartitionsOf, destinationLabel, type Registration } from '@callback-gateway/store';
import type { GatewayContext } from '../context.js';

/** What an id typed into the search box turned out to be, and the registration it leads to. */
export interface SearchHit {
  kind: 'registration' | 'callback' | 'delivery' | 'parse_job' | 'parse_submission';
  id: string;
  registration_id: string;
}

/** Finds a registration, callback/delivery (one id), parser job or parse submission by id. */
export async function searchId(context: GatewayContext, raw: string): Promise<SearchHit[]> {
  const q = raw.trim().slice(0, 200);
  if (q === '') return [];
  const [registration, delivery, byJob, submission] = await Promise.all([
    context.registrations.get(q),
    context.deliveries.get(q).catch(() => undefined),
    context.registrations.findByParseJob(q),
    context.submissions.get(q).catch(() => undefined),
  ]);
  const hits: SearchHit[] = [];
  if (registration) hits.push({ kind: 'registration', id: q, registration_id: registration.id });
  if (delivery) {
    // A callback and its delivery share one id (the webhook-id).
    hits.push({ kind: 'delivery', id: q, registration_id: delivery.registrationId });
  }
  if (byJob) hits.push({ kind: 'parse_job', id: q, registration_id: byJob.id });
  if (submission?.registrationId) {
    hits.push({ kind: 'parse_submission', id: q, registration_id: submission.registrationId });
  }
  return hits;
}

const auditStores = new WeakMap<GatewayContext, RedisAuditStore>();
/** Reads the audit streams the processes write (`{<prefix>}:audit:*`); writes nothing. */
function auditOf(context: GatewayContext) {
  let store = auditStores.get(context);
  if (!store) {
    store = createRedisAuditStore({
      redis: context.redis,
      prefix: `${context.keys.tag}:audit`,
      partitions: auditPartitionsOf(context.keys),
    });
    auditStores.set(context, store);
  }
  return store;
}

/** A registration's whole story: callbacks, each delivery's attempts, audit records, parser job. */
export async function registrationHistory(context: GatewayContext, registration: Registration) {
  const deliveries = await context.deliveries.listForRegistration(registration.id, 100);
  const [attempts, audit] = await Promise.all([
    Promise.all(deliveries.map((delivery) => context.deliveries.attempts(delivery.id))),
    auditOf(context)
      .query({ registrationId: registration.id, limit: 200, order: 'asc' })
      .catch(() => []),
  ]);
  return {
    registration: {
      id: registration.id,
      state: registration.state,
      destination: destinationLabel(registration.deliverTo),
      created_at: registration.createdAt,
      expires_at: registration.expiresAt,
      expect_callback_by: registration.expectCallbackBy,
      callbacks_received: registration.callbacksReceived,
      last_callback_at: registration.lastCallbackAt ?? null,
      delivery_stopped: registration.deliveryStopped ?? null,
    },
    parse_job: {
      id: registration.parseJobId ?? null,
      api: registration.parseApi ?? null,
      // The parser's state as the gateway last heard it: its newest parse or callback record.
      state:
        [...audit]
          .reverse()
          .find((event) => /^(parse\.|callback\.(received|reconciled|overdue))/.test(event.type))
          ?.type ?? null,
    },
    deliveries: deliveries.map((delivery, i) => ({
      id: delivery.id,
      state: delivery.state,
      event_type: delivery.eventType ?? delivery.format,
      event_id: delivery.eventId ?? null,
      received_at: delivery.receivedAt,
      replays: delivery.replays,
      reconciled: delivery.reconciled,
      attempts: (attempts[i] ?? []).map((attempt) => ({
        attempt: attempt.attempt,
        at: attempt.at,
        status: attempt.status ?? null,
        latency_ms: attempt.latencyMs,
        outcome: attempt.outcome,
        answer: attempt.error?.slice(0, 300) ?? null,
      })),
    })),
    audit: audit.map((event) => ({
      at: event.at,
      type: event.type,
      actor: `${event.actor.kind}:${event.actor.id}`,
      data: JSON.stringify(event.data).slice(0, 300),
    })),
  };
}
