import type { FakeVersions } from './versions.js';

/** Which create endpoint a job came in through. */
export type FakeApi = 'v1-upload' | 'v2-parse' | 'v2-upload';

/** Where a fake job stands; the v1 and v2 statuses are derived from it. */
export type FakeJobState = 'pending' | 'running' | 'succeeded' | 'partial' | 'failed' | 'cancelled';

/** An image on a page, as LlamaCloud lists it in JSON results and legacy callbacks. */
export interface FakeImage {
  name: string;
  height: number;
  width: number;
  x: number;
  y: number;
}

/** One page of a result. A page with `error` failed (the job then ends as a partial success). */
export interface FakePage {
  text?: string;
  markdown?: string;
  images?: readonly FakeImage[];
  error?: string;
}

/** The result a test completes a job with. Everything is optional: a one-page default is used. */
export interface FakeParseResult {
  pages?: readonly FakePage[];
  /** The whole document's markdown. @defaultValue the pages' markdown joined */
  markdown?: string;
  /** The whole document's text. @defaultValue the pages' text joined */
  text?: string;
  /** `job_auto_mode_triggered_pages` of `job_metadata`. @defaultValue 0 */
  autoModeTriggeredPages?: number;
  /** `job_is_cache_hit` of `job_metadata`. @defaultValue false */
  cacheHit?: boolean;
}

/** Where a job's callbacks go: one of its `webhook_configurations`, a saved one, or v1's. */
export interface FakeWebhook {
  /** The URL as submitted (before `rewriteCallbackUrl`). */
  url: string;
  /** `legacy`: v1 `webhook_url` (full result, no signature); `events`: v2 envelope. */
  kind: 'legacy' | 'events';
  signingSecret: string | undefined;
  /**
   * The event types subscribed to; undefined = all of today's (`parse.pending`, ...,
   * `parse.error`). An older name listed here (`parse.failure`, `parse.partial`) is sent too.
   */
  events: readonly string[] | undefined;
  headers: Readonly<Record<string, string>>;
  outputFormat: 'string' | 'json';
  /** The saved webhook configuration it came from (`webhook_configuration_ids`), if any. */
  configurationId?: string;
}

/** A saved webhook configuration (`/api/v1/beta/webhook-configs`). */
export interface FakeWebhookConfig {
  readonly id: string;
  url: string;
  /** null = all events. */
  events: readonly string[] | null;
  headers: Readonly<Record<string, string>>;
  outputFormat: 'string' | 'json' | null;
  signingSecret: string | undefined;
  readonly createdAt: string;
  updatedAt: string;
}

/** A job of the fake, as the test sees it. */
export interface FakeJob {
  readonly id: string;
  readonly api: FakeApi;
  readonly projectId: string;
  readonly name: string;
  readonly tier: string | null;
  /** The version asked for (`latest` or a dated one); null for v1 jobs. */
  readonly version: string | null;
  readonly createdAt: string;
  updatedAt: string;
  state: FakeJobState;
  errorCode: string | null;
  errorMessage: string | null;
  result: FakeParseResult | undefined;
  /** The job's own webhooks: its `webhook_configurations` with a URL, or v1's `webhook_url`. */
  readonly webhooks: readonly FakeWebhook[];
  /** Its `webhook_configuration_ids`: saved configurations, looked up when an event is sent. */
  readonly webhookConfigurationIds: readonly string[];
}

/** One create request the fake accepted. */
export interface FakeSubmission {
  api: FakeApi;
  jobId: string;
  /** The (first) webhook URL as submitted, if any. */
  webhookUrl: string | undefined;
  /** `webhook_configuration_ids`, when given. */
  webhookConfigurationIds?: readonly string[];
  signingSecret?: string;
  outputFormat?: 'string' | 'json';
  events?: readonly string[];
  webhookHeaders?: Readonly<Record<string, string>>;
  /**
   * v1: the flat form fields (the file left out); v2 parse: the JSON body; v2 upload: the parsed
   * `configuration`.
   */
  fields: Readonly<Record<string, unknown>>;
  file?: { name: string; size: number; contentType: string };
  /** The query parameters (`organization_id`, `project_id`, ...). */
  query: Readonly<Record<string, readonly string[]>>;
  /** The request headers, `authorization` left out. */
  headers: Readonly<Record<string, string>>;
}

/** One request the fake received (any endpoint, authorised or not). */
export interface FakeRequest {
  method: string;
  path: string;
  query: Readonly<Record<string, readonly string[]>>;
  /** The request headers, `authorization` left out. */
  headers: Readonly<Record<string, string>>;
  /** Whether it carried the right `Authorization: Bearer <apiKey>`. */
  authorized: boolean;
  /** The status the fake answered with. */
  status: number;
}

/** One callback the fake meant to send (a duplicate counts as a second one). */
export interface FakeCallback {
  jobId: string;
  /** `event_id` of a v2 envelope; undefined for legacy v1 bodies. */
  eventId: string | undefined;
  /** `event_type` of a v2 envelope, or `legacy` for the v1 full-result body. */
  eventType: string;
  /** The URL as submitted. */
  url: string;
  /** The URL actually called (after `rewriteCallbackUrl`). */
  targetUrl: string;
  /** The exact body bytes sent, as text. */
  body: string;
  headers: Readonly<Record<string, string>>;
  outcome: 'pending' | 'delivered' | 'gave-up' | 'dropped' | 'aborted';
}

/** One HTTP attempt at delivering a callback. */
export interface FakeCallbackAttempt {
  jobId: string;
  eventId: string | undefined;
  eventType: string;
  /** The URL called (after `rewriteCallbackUrl`). */
  url: string;
  /** 1-based attempt number within its delivery. */
  attempt: number;
  /** The receiver's HTTP status, when it answered. */
  status?: number;
  /** Why no status came back (connection refused, timeout, fake closed). */
  error?: string;
  /** When the attempt started (epoch ms from the fake's clock). */
  at: number;
}

/** Options of `startLlamaCloudFake`. */
export interface LlamaCloudFakeOptions {
  /**
   * The API key the fake accepts (`Authorization: Bearer <apiKey>`).
   * @defaultValue a random `llx-...` key
   */
  apiKey?: string;
  /**
   * `project_id` of jobs submitted without a `project_id` query parameter.
   * @defaultValue a random UUID
   */
  projectId?: string;
  /**
   * Maps a submitted (public, https) callback URL to the URL the fake actually calls, e.g. the
   * local gateway on `http://127.0.0.1:<port>/...`.
   * @defaultValue the URL unchanged
   */
  rewriteCallbackUrl?: (url: string) => string;
  /** Jobs whose callbacks are never sent (a callback that never arrives). @defaultValue none */
  dropCallbacks?: (jobId: string) => boolean;
  /** Jobs whose callbacks are sent twice, same body and `event_id`. @defaultValue none */
  duplicateCallbacks?: (jobId: string) => boolean;
  /**
   * Waits between callback attempts: the n-th entry follows the n-th failed attempt (the last
   * repeats).
   * @defaultValue [1000, 2000, 4000] (LlamaCloud's doubling waits)
   */
  retryDelaysMs?: readonly number[];
  /**
   * Attempts per callback before giving up.
   * @defaultValue 3
   */
  maxAttempts?: number;
  /**
   * Deadline of one callback attempt, in milliseconds.
   * @defaultValue 30_000
   */
  timeoutMs?: number;
  /**
   * The clock: job timestamps, envelope `timestamp`, attempt `at`.
   * @defaultValue `Date.now`
   */
  now?: () => number;
  /**
   * The tiers and versions v2 jobs may name (`GET /api/v2/parse/versions`); a tier or version
   * outside it is refused with 422. Give a larger one to try a tier the SDK does not know yet.
   * @defaultValue the SDK's lists
   */
  versions?: FakeVersions;
}

/** A canned answer for the next request (see `failNext`). */
export interface CannedAnswer {
  status: number;
  /** Sent as `{"detail": detail}`. @defaultValue a sentence naming the status */
  detail?: unknown;
  headers?: Record<string, string>;
}

/** A running fake of LlamaCloud's parse APIs, controlled by the test. */
export interface LlamaCloudFake {
  /** `http://127.0.0.1:<port>`: give it to the client as `baseUrl`. */
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly projectId: string;
  /** Every job, by id (a deleted one is gone). */
  readonly jobs: ReadonlyMap<string, FakeJob>;
  /** Saved webhook configurations, by id. */
  readonly webhookConfigs: ReadonlyMap<string, FakeWebhookConfig>;
  /** Every accepted create request, in order. */
  readonly submissions: readonly FakeSubmission[];
  /** Every request received, in order (authorisation shown as a flag, never the key). */
  readonly requests: readonly FakeRequest[];
  /** Every callback the fake meant to send (dropped ones included). */
  readonly callbacks: readonly FakeCallback[];
  /** Every HTTP attempt at sending a callback. */
  readonly callbackAttempts: readonly FakeCallbackAttempt[];
  /** PENDING → RUNNING. */
  setRunning(jobId: string): FakeJob;
  /**
   * Ends the job with a result (default: one page); it ends as a partial success when a page has
   * an `error`. Sends its callback.
   */
  complete(jobId: string, result?: FakeParseResult): FakeJob;
  /** Ends the job as failed (`error_message`, and v1 `error_code`). Sends its callback. */
  fail(jobId: string, message: string, options?: { code?: string }): FakeJob;
  /** Ends the job as cancelled (as `POST /api/v2/parse/{id}/cancel` does). Sends its callback. */
  cancel(jobId: string): FakeJob;
  /** Answers the next request with 429 and `Retry-After: <seconds>`. */
  rateLimitNext(retryAfterSeconds?: number): void;
  /** Answers the next request with this status and `{"detail": ...}`. */
  failNext(answer: CannedAnswer): void;
  /** Resolves once no callback is being sent or waiting for its next attempt. */
  callbacksSettled(): Promise<void>;
  /** Stops the server and aborts callbacks under way and their timers. Idempotent. */
  close(): Promise<void>;
}
