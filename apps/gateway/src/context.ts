import type { AuditLog, Logger } from '@callback-gateway/audit';
import type { OutboundPolicy } from '@callback-gateway/outbound';
import type { ReadinessCheck } from '@callback-gateway/runtime';
import type {
  DeliveryStore,
  HistoryRecorder,
  Intake,
  ParseSubmissionJob,
  RegistrationStore,
  StoreKeys,
  SubmissionStore,
} from '@callback-gateway/store';
import type { Cluster, Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import type { WebhookUrlResolver } from '@callback-gateway/webhook-url';
import type { Registry } from 'prom-client';
import type { ApiGuard } from './api-guard.js';
import type { createAuth } from './auth.js';
import type { RegistrationCache } from './callbacks/registration-cache.js';
import type { FailedAuthLimiterOptions } from './auth-limiter.js';
import type { GatewayMetrics } from './metrics.js';

/** Settings the routes use (from `config.ts`). */
export interface GatewaySettings {
  /** Largest callback body accepted (`GATEWAY_BODY_LIMIT_BYTES`). */
  bodyLimitBytes: number;
  /** Most bytes of callback bodies held at once, counted from their declared length
   * (`GATEWAY_CALLBACK_INFLIGHT_BYTES`); beyond it callbacks get `503 intake_busy`. */
  callbackInflightBytes: number;
  /** How long an issued callback URL is accepted (`GATEWAY_REGISTRATION_TTL_S`). */
  registrationTtlSeconds: number;
  /** Default deadline of the final callback (`GATEWAY_EXPECT_CALLBACK_WITHIN_S`). */
  expectCallbackWithinSeconds: number;
  /** Largest document accepted by `POST /v1/parse` (`GATEWAY_UPLOAD_LIMIT_BYTES`). */
  uploadLimitBytes: number;
}

/** What the gateway's routes need; `main.ts` wires the real ones, tests their own. */
export interface GatewayDeps {
  logger: Logger;
  registry: Registry;
  audit: AuditLog;
  settings: GatewaySettings;
  apiTokens: readonly string[];
  registrations: RegistrationStore;
  intake: Intake;
  deliveries: DeliveryStore;
  /** The store's key layout and connection (for listings over its indexes). */
  keys: StoreKeys;
  redis: Redis | Cluster;
  submissions: SubmissionStore;
  /** The parse submission queue (jobs are added; bull-board shows it). */
  parseQueue: Queue<ParseSubmissionJob>;
  /** Each partition's delivery queue, by partition; read only (the dashboard's counts and
   * bull-board). */
  deliveryQueues: readonly Queue[];
  outbound: OutboundPolicy;
  /** The public URL resolver, once it exists (it starts after the HTTP server). */
  webhookUrl: () => Pick<WebhookUrlResolver, 'resolve' | 'status'> | undefined;
  /** Key of the probe round trip that proves a public URL reaches this gateway; undefined
   * until it is loaded (it is shared through Redis). */
  probeKey: () => string | undefined;
  /**
   * Local-only mode (`GATEWAY_LOCAL_ONLY`): the gateway's own loopback base URL, under which
   * registrations are issued for trying the API on this machine, flagged local-only and never
   * as a `callback_url`; undefined otherwise (the default: no public URL, no registration).
   * @defaultValue `() => undefined`
   */
  localOnlyBaseUrl?: () => string | undefined;
  /** Conditions `/readyz` reports; the one named `redis` alone decides `/readyz/ingest`. */
  readinessChecks: readonly ReadinessCheck[];
  /** A request must arrive whole within this time (slow senders are cut off).
   * @defaultValue 30_000 */
  requestTimeoutMs?: number;
  /** Failed-authentication limit per client address (defaults: 20 per minute). */
  authLimit?: FailedAuthLimiterOptions;
  /**
   * Addresses or CIDR blocks of the reverse proxies in front of the gateway
   * (`GATEWAY_TRUSTED_PROXIES`): from them, `X-Forwarded-For`, `-Proto` and `-Host` say who the
   * client is and which URL it used. Empty: no proxy is trusted, the peer is the client.
   * @defaultValue `[]`
   */
  trustedProxies?: readonly string[];
  /** @defaultValue `() => new Date()` */
  now?: () => Date;
}

/** {@link GatewayDeps} plus what `buildApp` derives from them. */
export interface GatewayContext extends Omit<GatewayDeps, 'now'> {
  metrics: GatewayMetrics;
  auth: ReturnType<typeof createAuth>;
  /** The API's auth, failed-auth limit and cookie origin check, as an `onRequest` hook. */
  guard: ApiGuard;
  now: () => Date;
  /** The audit actor id of callbacks' senders. */
  callbackSource: string;
  /** Registrations by callback token, kept in memory (see `registration-cache.ts`). */
  callbackTargets: RegistrationCache;
  /** Per-minute history in Redis (the dashboard's charts); flushed when the app closes. */
  history: HistoryRecorder;
}
