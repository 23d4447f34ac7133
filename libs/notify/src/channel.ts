import type { Logger } from '@callback-gateway/audit';
import { unrefTimer, type Clock } from '@callback-gateway/runtime';
import type { Severity } from './conditions.js';
import type { Notification } from './messages.js';
import type { SendResult, Target } from './send.js';

/** The `outcome` label of `cbgw_notifications_total`. */
export type NotificationOutcome = SendResult['outcome'] | 'suppressed' | 'dropped';

export interface ChannelOptions {
  target: Target;
  /** Notifications this target receives per window; the rest are summarised. */
  maxPerWindow: number;
  windowMs: number;
  /** Notifications waiting to be sent (beyond `concurrency` in flight); past it the oldest is dropped. */
  maxQueued: number;
  concurrency: number;
  clock: Clock;
  logger: Logger;
  source: string;
  newId: () => string;
  send: (notification: Notification) => Promise<SendResult>;
  count: (outcome: NotificationOutcome) => void;
}

/** One target's rate limit, queue and failure reporting. */
export interface Channel {
  /** Sends now, or counts it into the "suppressed" summary when the rate limit is reached. Never blocks. */
  offer(notification: Notification): void;
  /** Nothing queued and nothing in flight. */
  idle(): boolean;
  /** Sends the pending summary if the rate limit allows it now; returns how many it still holds back. */
  trySummary(): number;
  /** Notifications counted into a summary that has not gone out yet. */
  held(): number;
  /** Clears its timer and forgets what is queued (counted as dropped). */
  stop(): void;
}

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };
const SAMPLE = 5;

/**
 * Creates a target's channel. The rate limit is a sliding window (`maxPerWindow` send times
 * kept, nothing more). Past it, notifications are only counted (with a few titles) and, as soon
 * as the window has room again, one "N more notifications suppressed" message goes out instead.
 * Memory stays bounded whatever the event rate: a fixed-size window, a capped queue, a counter.
 */
export function createChannel(options: ChannelOptions): Channel {
  const { clock, target, logger } = options;
  const sentAt: number[] = [];
  const queue: Notification[] = [];
  let inFlight = 0;
  let stopped = false;
  const suppressed = {
    count: 0,
    severity: 'info' as Severity,
    firstAt: '',
    titles: [] as string[],
    byCondition: new Map<string, number>(),
  };
  let summaryTimer: unknown;
  // Failures are logged once per burst, then only counted until a send succeeds again.
  let failing = false;
  let failedInBurst = 0;

  const roomNow = () => {
    const now = clock.now();
    while (sentAt.length > 0 && (sentAt[0] ?? 0) <= now - options.windowMs) sentAt.shift();
    return sentAt.length < options.maxPerWindow;
  };

  const pump = () => {
    while (!stopped && inFlight < options.concurrency && queue.length > 0) {
      const notification = queue.shift() as Notification;
      inFlight++;
      void options
        .send(notification)
        .then((result) => report(notification, result))
        .catch(() => undefined)
        .finally(() => {
          inFlight--;
          pump();
        });
    }
  };

  const report = (notification: Notification, result: SendResult) => {
    options.count(result.outcome);
    if (result.outcome === 'delivered') {
      if (failing) {
        logger.info(
          { target: target.label, failed: failedInBurst },
          `notifications to ${target.label} are delivered again (${failedInBurst} could not be delivered meanwhile)`,
        );
      }
      failing = false;
      failedInBurst = 0;
      return;
    }
    failedInBurst++;
    if (failing) return;
    failing = true;
    logger.warn(
      {
        target: target.label,
        outcome: result.outcome,
        attempts: result.attempts,
        notification: notification.conditionKey,
      },
      `notification "${notification.title}" could not be delivered to ${target.label}: ${result.detail} (${result.outcome} after ${result.attempts} attempt${result.attempts === 1 ? '' : 's'}); further failures are counted in cbgw_notifications_total until one is delivered`,
    );
  };

  const enqueue = (notification: Notification) => {
    sentAt.push(clock.now());
    queue.push(notification);
    if (queue.length > options.maxQueued) {
      queue.shift();
      options.count('dropped');
    }
    pump();
  };

  const summary = (): Notification => {
    const now = new Date(clock.now()).toISOString();
    const { count } = suppressed;
    const conditions = Object.fromEntries(suppressed.byCondition);
    return {
      id: options.newId(),
      condition: 'notifications_suppressed',
      phase: 'fact',
      severity: suppressed.severity,
      title: `${count} more notification${count === 1 ? '' : 's'} suppressed`,
      text: `The rate limit of ${options.maxPerWindow} notifications per ${Math.round(options.windowMs / 1000)} s to this target was reached, so ${count} notification${count === 1 ? ' was' : 's were'} not sent: ${suppressed.titles.join('; ')}${count > suppressed.titles.length ? '; …' : ''}. Every one is in the audit trail.`,
      conditionKey: `notifications_suppressed:${target.kind}`,
      firstSeenAt: suppressed.firstAt,
      at: now,
      details: { suppressed: count, by_condition: conditions, titles: [...suppressed.titles] },
      source: options.source,
    };
  };

  const trySummary = (): number => {
    if (suppressed.count === 0 || stopped) return suppressed.count;
    if (!roomNow()) {
      if (summaryTimer === undefined) {
        const wait = Math.max(1, (sentAt[0] ?? clock.now()) + options.windowMs - clock.now());
        // Unref'd: a summary held back by the rate limit never keeps an idle process alive.
        summaryTimer = unrefTimer(
          clock.setTimeout(() => {
            summaryTimer = undefined;
            trySummary();
          }, wait),
        );
      }
      return suppressed.count;
    }
    enqueue(summary());
    suppressed.count = 0;
    suppressed.severity = 'info';
    suppressed.titles = [];
    suppressed.byCondition.clear();
    return 0;
  };

  return {
    offer(notification) {
      if (stopped) return;
      // While a summary is pending, newer notifications join it: order is kept.
      if (suppressed.count === 0 && roomNow()) {
        enqueue(notification);
        return;
      }
      options.count('suppressed');
      if (suppressed.count === 0) suppressed.firstAt = notification.at;
      suppressed.count++;
      if (RANK[notification.severity] > RANK[suppressed.severity]) {
        suppressed.severity = notification.severity;
      }
      if (suppressed.titles.length < SAMPLE) suppressed.titles.push(notification.title);
      const condition = notification.condition;
      if (suppressed.byCondition.has(condition) || suppressed.byCondition.size < 20) {
        suppressed.byCondition.set(condition, (suppressed.byCondition.get(condition) ?? 0) + 1);
      }
      trySummary();
    },
    idle: () => queue.length === 0 && inFlight === 0,
    trySummary,
    held: () => suppressed.count,
    stop() {
      stopped = true;
      if (summaryTimer !== undefined) clock.clearTimeout(summaryTimer);
      summaryTimer = undefined;
      for (let i = 0; i < queue.length; i++) options.count('dropped');
      queue.length = 0;
    },
  };
}
