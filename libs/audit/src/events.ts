import { z } from 'zod';

/** Version of the audit record layout. Bump it when a record changes incompatibly. */
export const AUDIT_SCHEMA_VERSION = 1;

/** Who caused a state change. */
export const actorSchema = z
  .object({
    /** `system` for the product's own processes, `api_client` for a pipeline holding a bearer
     * token, `parser` for the external service posting a callback, `operator` for a human. */
    kind: z.enum(['system', 'api_client', 'parser', 'operator']),
    /** A stable, non-secret name: a process (`gateway`, `worker`), a token's label, a user. */
    id: z.string().min(1).max(200),
  })
  .strict();
export type Actor = z.infer<typeof actorSchema>;

/** Ids that tie events of one story together. All optional; set what is known. */
export const correlationSchema = z
  .object({
    registration_id: z.string().max(200).optional(),
    callback_id: z.string().max(200).optional(),
    delivery_id: z.string().max(200).optional(),
    tunnel_session_id: z.string().max(200).optional(),
    parse_job_id: z.string().max(200).optional(),
  })
  .strict();
export type Correlation = z.infer<typeof correlationSchema>;

const urlSource = z.enum(['cloud_config', 'ngrok', 'cache']);
const verification = z.enum(['syntax', 'dns', 'probe']);
const reason = z
  .object({ source: z.string().max(100), code: z.string().max(100), reason: z.string().max(2000) })
  .strict();
const attempt = z.number().int().min(1);
const ms = z.number().min(0);

/**
 * The payload of each event type. Payloads are small and carry no secrets: URLs that embed a
 * callback token are masked by the recorder before they are written.
 */
export const auditPayloads = {
  'tunnel.up': z
    .object({ provider: z.literal('ngrok'), url: z.string(), domain: z.string().optional() })
    .strict(),
  'tunnel.down': z
    .object({
      provider: z.literal('ngrok'),
      /** `start_failed` when the tunnel never came up: a failed first start leaves a trace too. */
      phase: z.enum(['start_failed', 'lost', 'closed']),
      url: z.string().optional(),
      code: z.string().max(100).optional(),
      reason: z.string().max(2000),
      up_for_ms: ms.optional(),
    })
    .strict(),
  'webhook_url.resolved': z
    .object({
      base_url: z.string(),
      source: urlSource,
      verified_by: verification,
      /** True only when plain http was allowed by the development switch. */
      insecure: z.boolean(),
      duration_ms: ms,
    })
    .strict(),
  'webhook_url.refused': z
    .object({ reasons: z.array(reason).max(20), duration_ms: ms, purpose: z.string().optional() })
    .strict(),
  'webhook_url.changed': z
    .object({ old_url: z.string(), new_url: z.string(), source: urlSource })
    .strict(),
  'registration.created': z
    .object({
      source: z.string().max(100),
      deliver_to_origin: z.string(),
      callback_base_url: z.string(),
      expires_at: z.string(),
      requires_signature: z.boolean().optional(),
    })
    .strict(),
  'registration.updated': z.object({ fields: z.array(z.string().max(100)).max(20) }).strict(),
  'parse.submitted': z
    .object({
      /** The parse submission (`POST /v1/parse`) the job is for. */
      submission_id: z.string().max(100),
      api: z.enum(['v1', 'v2']),
      /** v2 only: the tier and version the job was submitted with. */
      tier: z.string().max(100).optional(),
      version: z.string().max(100).optional(),
    })
    .strict(),
  'callback.received': z
    .object({
      format: z.enum(['legacy', 'event', 'other']),
      event_type: z.string().max(200).optional(),
      event_id: z.string().max(200).optional(),
      bytes: z.number().int().min(0),
      signature: z.enum(['verified', 'absent', 'not_configured']),
    })
    .strict(),
  'callback.duplicate': z
    .object({ dedup_key: z.string().max(300), event_id: z.string().max(200).optional() })
    .strict(),
  'callback.rejected': z
    .object({
      code: z.string().max(100),
      status: z.number().int(),
      reason: z.string().max(2000),
      /** The sender's address, on rejections that name no registration (an unknown token):
       * those are recorded a few per address, not one by one. `*` counts the addresses past
       * the ones tracked at once. */
      source_address: z.string().max(100).optional(),
      /** How many rejections the record stands for (one when absent). */
      count: z.number().int().min(1).optional(),
      /** When the first of them happened (`at` is when the record was written). */
      since: z.iso.datetime({ offset: true }).optional(),
    })
    .strict(),
  'callback.overdue': z.object({ deadline: z.string(), waited_s: z.number().min(0) }).strict(),
  'callback.reconciled': z
    .object({ parser_status: z.string().max(100), via: z.string().max(200) })
    .strict(),
  /** Read in older trails only: each attempt's outcome record names its destination. */
  'delivery.attempted': z.object({ attempt, destination_origin: z.string() }).strict(),
  'delivery.succeeded': z
    .object({
      attempt,
      status: z.number().int(),
      latency_ms: ms,
      /** Absent in records written before the outcome named it. */
      destination_origin: z.string().optional(),
    })
    .strict(),
  'delivery.failed': z
    .object({
      attempt,
      destination_origin: z.string().optional(),
      status: z.number().int().optional(),
      error_code: z.string().max(100).optional(),
      reason: z.string().max(2000),
      latency_ms: ms,
      will_retry: z.boolean(),
      next_attempt_at: z.string().optional(),
    })
    .strict(),
  'delivery.dead_lettered': z
    .object({ attempts: z.number().int().min(0), last_error: z.string().max(2000) })
    .strict(),
  'delivery.replayed': z.object({ from_state: z.string().max(100), bulk: z.boolean() }).strict(),
  'breaker.state_changed': z
    .object({
      destination_origin: z.string(),
      /** The destination (origin and path) whose breaker it is; absent for an origin's. */
      destination: z.string().max(300).optional(),
      level: z.enum(['destination', 'origin']).optional(),
      from: z.enum(['closed', 'open', 'half_open']),
      to: z.enum(['closed', 'open', 'half_open']),
      reason: z.string().max(500),
    })
    .strict(),
} as const;

/** Every audit event type, in a stable order (docs and tests list the same). */
export type AuditEventType = keyof typeof auditPayloads;
export const AUDIT_EVENT_TYPES = Object.keys(auditPayloads) as AuditEventType[];

function eventSchema<T extends AuditEventType>(type: T) {
  return z
    .object({
      v: z.literal(AUDIT_SCHEMA_VERSION),
      id: z.string().min(1).max(100),
      at: z.iso.datetime({ offset: true }),
      type: z.literal(type),
      actor: actorSchema,
      correlation: correlationSchema,
      data: auditPayloads[type] as (typeof auditPayloads)[T],
    })
    .strict();
}

type EventSchemas = { [T in AuditEventType]: ReturnType<typeof eventSchema<T>> };
/** The schema of each event type (what `record()` validates against: no union to search). */
export const eventSchemas = Object.fromEntries(
  AUDIT_EVENT_TYPES.map((type) => [type, eventSchema(type)]),
) as EventSchemas;

/** One audit record, validated: a discriminated union on `type`. */
export const auditEventSchema = z.discriminatedUnion(
  'type',
  Object.values(eventSchemas) as unknown as [
    EventSchemas[AuditEventType],
    ...EventSchemas[AuditEventType][],
  ],
);

/** A recorded audit event of type `T` (or of any type). */
export type AuditEvent<T extends AuditEventType = AuditEventType> = T extends AuditEventType
  ? {
      v: typeof AUDIT_SCHEMA_VERSION;
      id: string;
      at: string;
      type: T;
      actor: Actor;
      correlation: Correlation;
      data: z.infer<(typeof auditPayloads)[T]>;
    }
  : never;

/** What a caller hands to `record()`: the recorder fills in `v`, `id` and `at`. */
export type AuditEventInput<T extends AuditEventType = AuditEventType> = T extends AuditEventType
  ? {
      type: T;
      actor?: Actor;
      correlation?: Correlation;
      data: z.infer<(typeof auditPayloads)[T]>;
      /** Override the time (tests, replays of history). */
      at?: Date;
    }
  : never;
