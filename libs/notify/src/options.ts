import type { AuditSink, Logger } from '@callback-gateway/audit';
import type { OutboundPolicy } from '@callback-gateway/outbound';
import type { Clock } from '@callback-gateway/runtime';
import type { Registry } from 'prom-client';
import type { Dispatcher } from 'undici';
import type { ConditionName } from './conditions.js';

/** Options for `createNotifier`. */
export interface NotifierOptions {
  /** The process sending (`gateway`, `worker`): the `source` of every notification. */
  source: string;
  /** Targets of the signed JSON webhook (`NOTIFY_WEBHOOK_URLS`). */
  webhookUrls?: readonly string[];
  /** Standard Webhooks secret (`whsec_<base64 of 24 to 64 bytes>`); required with webhook URLs. */
  webhookSecret?: string;
  /** Slack incoming-webhook URLs (`NOTIFY_SLACK_WEBHOOK_URLS`). They embed a token: never logged. */
  slackUrls?: readonly string[];
  /** The outbound policy (`OUTBOUND_ALLOW`): targets are checked like deliveries, at connect time. */
  policy: OutboundPolicy;
  /**
   * A borrowed dispatcher (left open by `close()`).
   * @defaultValue a guarded undici Agent built from `policy`, owned and closed by the notifier
   */
  dispatcher?: Dispatcher;
  /** Where failures to notify are reported (once per burst per target). */
  logger: Logger;
  /** prom-client registry for `cbgw_notifications_total{target_kind,outcome}`. */
  registry?: Registry;
  /**
   * The notifier unrefs every timer it arms: a pending notification never keeps a process alive.
   * @defaultValue `systemClock` of `@callback-gateway/runtime`
   */
  clock?: Clock;
  /**
   * The conditions this process reports (the gateway and the worker each observe their own).
   * @defaultValue all of `NOTIFY_CONDITIONS`
   */
  conditions?: readonly ConditionName[];
  /**
   * A condition still open is reported again only when it is observed again this long after
   * its last notification (`NOTIFY_REPEAT_AFTER_S`). Also how long a reported fact's key
   * (a registration) is not reported again.
   * @defaultValue 3_600_000
   */
  repeatAfterMs?: number;
  /**
   * Notifications per target per minute (`NOTIFY_MAX_PER_MINUTE`); the rest are summarised.
   * @defaultValue 20
   */
  maxPerMinute?: number;
  /**
   * How long facts that come in bursts (dead letters, overdue callbacks) are gathered into
   * one message.
   * @defaultValue 30_000
   */
  batchWindowMs?: number;
  /**
   * Deadline of one attempt.
   * @defaultValue 5_000
   */
  timeoutMs?: number;
  /**
   * Attempts per notification and target (the first included), and the first backoff delay
   * (doubled each retry, ±20 % jitter).
   * @defaultValue `{ attempts: 3, baseDelayMs: 1_000 }`
   */
  retry?: { attempts?: number; baseDelayMs?: number };
  /**
   * Open conditions, and recently reported fact keys, remembered at most (oldest forgotten).
   * @defaultValue 10_000
   */
  maxTracked?: number;
}

/** The notifier: an audit sink that turns audit events into operational notifications. */
export interface Notifier {
  /** Give it to `createAuditLog({ sinks })`. Its `write()` never throws and never waits. */
  readonly sink: AuditSink;
  /** Sends gathered batches now and waits (up to `timeoutMs`) for every send in flight;
   * resolves to the number of notifications still pending. */
  flush(timeoutMs?: number): Promise<number>;
  /** Stops taking events, flushes (bounded by `timeoutMs`), gives up what is left and closes
   * an owned dispatcher. Idempotent. */
  close(timeoutMs?: number): Promise<void>;
}
