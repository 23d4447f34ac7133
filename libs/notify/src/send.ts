import { OutboundRefusedError } from '@callback-gateway/outbound';
import { unrefTimer, type Clock } from '@callback-gateway/runtime';
import type { Webhook } from 'standardwebhooks';
import { request, type Dispatcher } from 'undici';
import { slackBody, webhookBody, type Notification } from './messages.js';

/** The kinds of notification target. */
export type TargetKind = 'webhook' | 'slack';

/** One configured notification target. */
export interface Target {
  kind: TargetKind;
  url: string;
  /** What logs show instead of the URL (a Slack URL embeds its token): `slack #1 (https://hooks.slack.com)`. */
  label: string;
}

/** How a notification ended at one target (the `outcome` label of `cbgw_notifications_total`). */
export type SendOutcome = 'delivered' | 'failed' | 'timed_out' | 'refused';

export interface SendResult {
  outcome: SendOutcome;
  attempts: number;
  /** Why it failed, without the target URL. */
  detail: string;
}

export interface SendOptions {
  target: Target;
  notification: Notification;
  dispatcher: Dispatcher;
  /** Signs webhook targets (Standard Webhooks); unused for Slack. */
  signer: Webhook | undefined;
  timeoutMs: number;
  /** Attempts in all (the first one included). */
  attempts: number;
  baseDelayMs: number;
  clock: Clock;
  /** Aborted when the notifier closes: the current attempt stops and no retry follows. */
  signal: AbortSignal;
}

type AttemptResult =
  | { kind: 'ok' }
  | { kind: 'retryable'; outcome: 'failed' | 'timed_out'; detail: string }
  | { kind: 'final'; outcome: 'failed' | 'refused'; detail: string };

function refusalOf(error: unknown): OutboundRefusedError | undefined {
  if (error instanceof OutboundRefusedError) return error;
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  return cause instanceof OutboundRefusedError ? cause : undefined;
}

async function attempt(options: SendOptions, attemptSignal: AbortSignal): Promise<AttemptResult> {
  const { target, notification } = options;
  const body = target.kind === 'slack' ? slackBody(notification) : webhookBody(notification);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'callback-gateway/0.1 (+notify)',
  };
  if (target.kind === 'webhook' && options.signer) {
    // A fresh timestamp per attempt (receivers check it against a tolerance); the same id.
    const timestamp = new Date(options.clock.now());
    headers['webhook-id'] = notification.id;
    headers['webhook-timestamp'] = String(Math.floor(timestamp.getTime() / 1000));
    headers['webhook-signature'] = options.signer.sign(notification.id, timestamp, body);
  }
  try {
    const response = await request(target.url, {
      method: 'POST',
      dispatcher: options.dispatcher,
      headers,
      body,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal: attemptSignal,
    });
    await response.body.dump().catch(() => undefined);
    const status = response.statusCode;
    if (status >= 200 && status < 300) return { kind: 'ok' };
    if (status >= 500 || status === 429 || status === 408) {
      return { kind: 'retryable', outcome: 'failed', detail: `HTTP ${status}` };
    }
    return { kind: 'final', outcome: 'failed', detail: `HTTP ${status} (not retried)` };
  } catch (error) {
    const refusal = refusalOf(error);
    if (refusal)
      return { kind: 'final', outcome: 'refused', detail: `${refusal.code}: ${refusal.message}` };
    const name = (error as { name?: string }).name;
    const code = (error as { code?: string }).code;
    const timedOut =
      name === 'TimeoutError' ||
      code === 'UND_ERR_HEADERS_TIMEOUT' ||
      code === 'UND_ERR_BODY_TIMEOUT' ||
      code === 'UND_ERR_CONNECT_TIMEOUT' ||
      (name === 'AbortError' && !options.signal.aborted);
    if (timedOut) {
      return {
        kind: 'retryable',
        outcome: 'timed_out',
        detail: `no answer within ${options.timeoutMs} ms`,
      };
    }
    return {
      kind: 'retryable',
      outcome: 'failed',
      detail: `${code ?? name ?? 'network error'}${error instanceof Error ? `: ${error.message}` : ''}`,
    };
  }
}

function sleep(clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clock.clearTimeout(handle);
      resolve();
    };
    // Unref'd: a wait before retrying a notification never keeps an idle process alive.
    const handle = unrefTimer(
      clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, ms),
    );
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * POSTs one notification to one target: each attempt bounded by `timeoutMs`, retried with
 * exponential backoff (±20 % jitter) on 5xx, 408, 429, timeouts and connection errors, then
 * given up. A target the outbound policy refuses is not retried. Never throws.
 */
export async function sendNotification(options: SendOptions): Promise<SendResult> {
  let last: AttemptResult = { kind: 'retryable', outcome: 'failed', detail: 'not attempted' };
  let made = 0;
  for (let n = 1; n <= options.attempts && !options.signal.aborted; n++) {
    if (n > 1) {
      const delay = options.baseDelayMs * 2 ** (n - 2) * (0.8 + Math.random() * 0.4);
      await sleep(options.clock, delay, options.signal);
      if (options.signal.aborted) break;
    }
    made = n;
    const signal = AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]);
    last = await attempt(options, signal);
    if (last.kind === 'ok') return { outcome: 'delivered', attempts: n, detail: '' };
    if (last.kind === 'final') break;
  }
  if (options.signal.aborted && last.kind !== 'final') {
    return { outcome: 'failed', attempts: made, detail: 'given up: the notifier closed' };
  }
  return { outcome: last.outcome, attempts: made, detail: last.detail };
}
