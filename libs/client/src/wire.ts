import { z } from 'zod';

// The gateway's wire format (snake_case) and its camelCase mirror. Fields the client relies on
// are validated; fields it does not know yet are kept, as sent, in `extra`, so a newer gateway
// never breaks an older client.

/** The states of a registration, as the gateway reports them. A copy of the store's list (this
 * package imports nothing of the project): tools/workspace/src/copies.test.ts holds them equal. */
export const REGISTRATION_STATES = [
  'waiting',
  'received',
  'delivering',
  'delivered',
  'dead_lettered',
  'overdue',
] as const;

/** Where a registration stands. */
export type RegistrationState = (typeof REGISTRATION_STATES)[number];

/** How a received callback was recognised. */
export type CallbackFormat = 'event' | 'legacy' | 'other';

/** Fields the gateway sent that this client does not know, as sent (snake_case). */
export type ExtraFields = Readonly<Record<string, unknown>>;

const isoTime = z.string().min(1);
const nullableString = z.string().nullable();
const callbackFormat = z.enum(['event', 'legacy', 'other']);

function splitExtra<T extends Record<string, unknown>>(
  value: T,
  known: z.ZodRawShape,
): ExtraFields {
  return Object.fromEntries(Object.entries(value).filter(([key]) => !(key in known)));
}

const registrationCreatedShape = {
  id: z.string().min(1),
  callback_url: z.string().min(1),
  signing_secret: z.string().min(1),
  delivery_secret: z.string().min(1),
  expires_at: isoTime,
  expect_callback_by: isoTime,
  created_at: isoTime,
  state: z.enum(REGISTRATION_STATES),
  source: z.string(),
  deliver_to: z.string(),
  parse_job_id: nullableString,
  callback_url_source: z.string(),
};

/** The 201 answer of `POST /v1/registrations`, camelCased. */
export interface RegistrationCreated {
  id: string;
  /** The URL to give LlamaParse (`webhook_url` or `webhook_configurations[].webhook_url`). */
  callbackUrl: string;
  /** Give it to LlamaParse as `webhook_signing_secret`; the gateway checks callbacks with it. */
  signingSecret: string;
  /** `whsec_...`: the secret the gateway signs deliveries to `deliverTo` with. */
  deliverySecret: string;
  expiresAt: string;
  expectCallbackBy: string;
  createdAt: string;
  state: RegistrationState;
  source: string;
  deliverTo: string;
  parseJobId: string | null;
  /** Which source gave the public callback URL (e.g. `cloud_config`, `ngrok`). */
  callbackUrlSource: string;
  extra: ExtraFields;
}

/** Validates and camelCases a registration-created answer. */
export const registrationCreatedSchema = z
  .looseObject(registrationCreatedShape)
  .transform((w): RegistrationCreated => ({
    id: w.id,
    callbackUrl: w.callback_url,
    signingSecret: w.signing_secret,
    deliverySecret: w.delivery_secret,
    expiresAt: w.expires_at,
    expectCallbackBy: w.expect_callback_by,
    createdAt: w.created_at,
    state: w.state,
    source: w.source,
    deliverTo: w.deliver_to,
    parseJobId: w.parse_job_id,
    callbackUrlSource: w.callback_url_source,
    extra: splitExtra(w, registrationCreatedShape),
  }));

const callbackShape = {
  id: z.string(),
  received_at: isoTime,
  format: callbackFormat,
  event_type: nullableString,
  event_id: nullableString,
};

/** One callback the gateway received for a registration. */
export interface ReceivedCallback {
  id: string;
  receivedAt: string;
  format: CallbackFormat;
  eventType: string | null;
  eventId: string | null;
  extra: ExtraFields;
}

const callbackSchema = z.looseObject(callbackShape).transform((w): ReceivedCallback => ({
  id: w.id,
  receivedAt: w.received_at,
  format: w.format,
  eventType: w.event_type,
  eventId: w.event_id,
  extra: splitExtra(w, callbackShape),
}));

const deliveryShape = {
  id: z.string(),
  state: z.string(),
  attempts: z.number().int().nonnegative(),
  last_status: z.number().int().nullable(),
  last_error: nullableString,
  delivered_at: nullableString,
  next_attempt_at: nullableString,
};

/** One delivery of a callback to the pipeline. */
export interface Delivery {
  id: string;
  state: string;
  attempts: number;
  /** HTTP status of the last attempt, null before any answer. */
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  nextAttemptAt: string | null;
  extra: ExtraFields;
}

const deliverySchema = z.looseObject(deliveryShape).transform((w): Delivery => ({
  id: w.id,
  state: w.state,
  attempts: w.attempts,
  lastStatus: w.last_status,
  lastError: w.last_error,
  deliveredAt: w.delivered_at,
  nextAttemptAt: w.next_attempt_at,
  extra: splitExtra(w, deliveryShape),
}));

const registrationViewShape = {
  id: z.string().min(1),
  state: z.enum(REGISTRATION_STATES),
  source: z.string(),
  deliver_to: z.string(),
  parse_job_id: nullableString,
  metadata: z.record(z.string(), z.unknown()).nullable(),
  created_at: isoTime,
  expires_at: isoTime,
  expect_callback_by: isoTime,
  callbacks_received: z.number().int().nonnegative(),
  last_callback_at: nullableString,
  callbacks: z.array(callbackSchema),
  deliveries: z.array(deliverySchema),
};

/** A registration as `GET`/`PATCH /v1/registrations/:id` report it, camelCased. */
export interface RegistrationView {
  id: string;
  state: RegistrationState;
  source: string;
  deliverTo: string;
  parseJobId: string | null;
  metadata: Record<string, unknown> | null;
  createdAt: string;
  expiresAt: string;
  expectCallbackBy: string;
  callbacksReceived: number;
  lastCallbackAt: string | null;
  callbacks: ReceivedCallback[];
  deliveries: Delivery[];
  extra: ExtraFields;
}

/** Validates and camelCases a registration view. */
export const registrationViewSchema = z
  .looseObject(registrationViewShape)
  .transform((w): RegistrationView => ({
    id: w.id,
    state: w.state,
    source: w.source,
    deliverTo: w.deliver_to,
    parseJobId: w.parse_job_id,
    metadata: w.metadata,
    createdAt: w.created_at,
    expiresAt: w.expires_at,
    expectCallbackBy: w.expect_callback_by,
    callbacksReceived: w.callbacks_received,
    lastCallbackAt: w.last_callback_at,
    callbacks: w.callbacks,
    deliveries: w.deliveries,
    extra: splitExtra(w, registrationViewShape),
  }));

const deliveryEnvelopeShape = {
  type: z.string().min(1),
  registration_id: z.string().min(1),
  parse_job_id: nullableString,
  received_at: isoTime,
  format: callbackFormat,
  payload: z.unknown(),
  reconciled: z.boolean().optional(),
};

/** The body the gateway's worker delivers to the pipeline, camelCased. */
export interface DeliveryEnvelope {
  type: string;
  registrationId: string;
  parseJobId: string | null;
  receivedAt: string;
  format: CallbackFormat;
  /** The callback body as LlamaParse sent it (parsed JSON when it was JSON). */
  payload: unknown;
  /** True when the worker found the result by asking LlamaParse, not from a callback. */
  reconciled: boolean;
  extra: ExtraFields;
}

/** Validates and camelCases a delivery envelope. */
export const deliveryEnvelopeSchema = z
  .looseObject(deliveryEnvelopeShape)
  .refine((w) => 'payload' in w, { message: 'payload is required', path: ['payload'] })
  .transform((w): DeliveryEnvelope => ({
    type: w.type,
    registrationId: w.registration_id,
    parseJobId: w.parse_job_id,
    receivedAt: w.received_at,
    format: w.format,
    payload: w.payload,
    reconciled: w.reconciled ?? false,
    extra: splitExtra(w, deliveryEnvelopeShape),
  }));

/** The JSON error body the gateway answers with: `{ error, message, ...extra }`. */
export const errorBodySchema = z.looseObject({
  error: z.string().min(1),
  message: z.string().optional(),
  reasons: z
    .array(z.looseObject({ source: z.string(), code: z.string(), reason: z.string() }))
    .optional(),
});

/** Says where a zod issue is, in a short line (for `GATEWAY_BAD_RESPONSE` messages). */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}
