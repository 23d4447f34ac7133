import { randomUUID } from 'node:crypto';
import type { AuditEvent, AuditSink } from '@callback-gateway/audit';
import { createGuardedAgent } from '@callback-gateway/outbound';
import { systemClock, unrefTimer } from '@callback-gateway/runtime';
import { Counter, type Registry } from 'prom-client';
import { Webhook } from 'standardwebhooks';
import { createChannel, type Channel, type NotificationOutcome } from './channel.js';
import {
  CONDITION_INFO,
  NOTIFY_CONDITIONS,
  signalOf,
  type ConditionName,
  type Signal,
} from './conditions.js';
import { describeFact, describeState, type Notification } from './messages.js';
import type { Notifier, NotifierOptions } from './options.js';
import { sendNotification, type Target } from './send.js';
import { checkTargets } from './targets.js';

interface OpenCondition {
  condition: ConditionName;
  firstSeenAt: string;
  openedAtMs: number;
  lastNotifiedMs: number;
  details: Record<string, unknown>;
}

interface Batch {
  count: number;
  ids: string[];
  firstAt: string;
  lastAt: string;
  details: Record<string, unknown>;
  timer: unknown;
}

const BATCH_SAMPLE = 10;
const WINDOW_MS = 60_000;

function notificationsCounter(registry: Registry | undefined): Counter<'target_kind' | 'outcome'> {
  const name = 'cbgw_notifications_total';
  const existing = registry?.getSingleMetric(name);
  if (existing) return existing as Counter<'target_kind' | 'outcome'>;
  return new Counter({
    name,
    help: 'Operational notifications by target kind and outcome (delivered, failed, timed_out, refused, suppressed, dropped).',
    labelNames: ['target_kind', 'outcome'],
    registers: registry ? [registry] : [],
  });
}

/** Puts `key` last (most recent) and forgets the oldest entries past `max`. */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) {
    const oldest = map.keys().next();
    if (oldest.done) break;
    map.delete(oldest.value);
  }
}

/**
 * Creates the notifier. Each audit event is mapped to a condition (see `signalOf`): a state
 * that opens (one notification, then silence while it stays open, a reminder at most every
 * `repeatAfterMs` when it is observed again) and clears (one recovery message, only for an
 * opening that was reported), or a fact (dead letters and overdue callbacks gathered over
 * `batchWindowMs` into one message with a count and a few ids). Every target has its own rate
 * limit and queue, and failing targets never slow down the audit log.
 * Throws a `NotifyError` (see errors.ts) when targets or secret are unusable (start-up only).
 */
export function createNotifier(options: NotifierOptions): Notifier {
  const clock = options.clock ?? systemClock;
  const logger = options.logger;
  const repeatAfterMs = options.repeatAfterMs ?? 3_600_000;
  const batchWindowMs = options.batchWindowMs ?? 30_000;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const attempts = Math.max(1, options.retry?.attempts ?? 3);
  const baseDelayMs = options.retry?.baseDelayMs ?? 1_000;
  const maxTracked = options.maxTracked ?? 10_000;
  const enabled = new Set<ConditionName>(options.conditions ?? NOTIFY_CONDITIONS);

  const targets: Target[] = checkTargets(options);
  const signer = options.webhookSecret ? new Webhook(options.webhookSecret) : undefined;
  const ownsDispatcher = !options.dispatcher;
  const dispatcher =
    options.dispatcher ??
    createGuardedAgent(options.policy, {
      connect: { timeout: timeoutMs },
      keepAliveTimeout: 10_000,
      connections: 8,
    });
  const counter = notificationsCounter(options.registry);
  const stopping = new AbortController();
  const newId = () => `msg_${randomUUID().replace(/-/g, '')}`;

  const channels: Channel[] = targets.map((target) =>
    createChannel({
      target,
      maxPerWindow: Math.max(1, options.maxPerMinute ?? 20),
      windowMs: WINDOW_MS,
      maxQueued: 100,
      concurrency: 2,
      clock,
      logger,
      source: options.source,
      newId,
      count: (outcome: NotificationOutcome) => counter.inc({ target_kind: target.kind, outcome }),
      send: (notification) =>
        sendNotification({
          target,
          notification,
          dispatcher,
          signer,
          timeoutMs,
          attempts,
          baseDelayMs,
          clock,
          signal: stopping.signal,
        }),
    }),
  );

  const open = new Map<string, OpenCondition>();
  const recentFacts = new Map<string, number>();
  const batches = new Map<ConditionName, Batch>();
  let accepting = true;
  let errorLogged = false;

  const emit = (notification: Notification) => {
    logger.info(
      { notification: notification.conditionKey, type: notification.condition },
      `operational notification: ${notification.title}`,
    );
    for (const channel of channels) channel.offer(notification);
  };

  const stateNotification = (
    key: string,
    state: OpenCondition,
    phase: 'opened' | 'recovered',
    at: string,
    reminder: boolean,
  ): Notification => {
    const openForMs = Math.max(0, clock.now() - state.openedAtMs);
    const { title, text } = describeState(
      state.condition,
      phase,
      state.details,
      openForMs,
      reminder,
    );
    return {
      id: newId(),
      condition: state.condition,
      phase,
      severity: phase === 'recovered' ? 'info' : CONDITION_INFO[state.condition].severity,
      title,
      text,
      conditionKey: key,
      firstSeenAt: state.firstSeenAt,
      at,
      details: {
        ...state.details,
        ...(phase === 'recovered' || reminder ? { open_for_s: Math.round(openForMs / 1000) } : {}),
        ...(reminder && { reminder: true }),
      },
      source: options.source,
    };
  };

  const factNotification = (
    condition: ConditionName,
    key: string,
    count: number,
    ids: string[],
    firstAt: string,
    at: string,
    details: Record<string, unknown>,
  ): Notification => {
    const { title, text } = describeFact(condition, count, ids, details);
    const batched = CONDITION_INFO[condition].batched;
    return {
      id: newId(),
      condition,
      phase: 'fact',
      severity: CONDITION_INFO[condition].severity,
      title,
      text,
      conditionKey: key,
      firstSeenAt: firstAt,
      at,
      details: batched ? { count, registration_ids: ids, first: details } : details,
      source: options.source,
    };
  };

  const sendBatch = (condition: ConditionName) => {
    const batch = batches.get(condition);
    if (!batch) return;
    batches.delete(condition);
    clock.clearTimeout(batch.timer);
    emit(
      factNotification(
        condition,
        condition,
        batch.count,
        batch.ids,
        batch.firstAt,
        batch.lastAt,
        batch.details,
      ),
    );
  };

  const handle = (signal: Signal) => {
    const now = clock.now();
    const state = open.get(signal.key);
    if (signal.kind === 'open') {
      if (!state) {
        const opened: OpenCondition = {
          condition: signal.condition,
          firstSeenAt: signal.at,
          openedAtMs: now,
          lastNotifiedMs: now,
          details: signal.details,
        };
        remember(open, signal.key, opened, maxTracked);
        emit(stateNotification(signal.key, opened, 'opened', signal.at, false));
        return;
      }
      state.details = signal.details;
      if (now - state.lastNotifiedMs >= repeatAfterMs) {
        state.lastNotifiedMs = now;
        emit(stateNotification(signal.key, state, 'opened', signal.at, true));
      }
      return;
    }
    if (signal.kind === 'clear') {
      // Nothing was reported about it (or it was forgotten): nothing to recover from.
      if (!state) return;
      open.delete(signal.key);
      state.details = { ...state.details, ...signal.details };
      emit(stateNotification(signal.key, state, 'recovered', signal.at, false));
      return;
    }
    const seen = recentFacts.get(signal.key);
    if (seen !== undefined && now - seen < repeatAfterMs) return;
    remember(recentFacts, signal.key, now, maxTracked);
    if (!CONDITION_INFO[signal.condition].batched) {
      emit(
        factNotification(signal.condition, signal.key, 1, [], signal.at, signal.at, signal.details),
      );
      return;
    }
    let batch = batches.get(signal.condition);
    if (!batch) {
      const condition = signal.condition;
      batch = {
        count: 0,
        ids: [],
        firstAt: signal.at,
        lastAt: signal.at,
        details: signal.details,
        // Unref'd: a batch waiting for its window never keeps an idle process alive.
        timer: unrefTimer(clock.setTimeout(() => sendBatch(condition), batchWindowMs)),
      };
      batches.set(condition, batch);
    }
    batch.count++;
    batch.lastAt = signal.at;
    if (signal.item !== undefined && batch.ids.length < BATCH_SAMPLE) batch.ids.push(signal.item);
  };

  const sink: AuditSink = {
    name: 'notify',
    write(events: readonly AuditEvent[]) {
      if (!accepting) return;
      for (const event of events) {
        try {
          const signal = signalOf(event);
          if (signal && enabled.has(signal.condition)) handle(signal);
        } catch (error) {
          // A notifier bug must not make the audit log retry the batch forever.
          if (!errorLogged) {
            errorLogged = true;
            logger.error(
              { err: error, type: event.type },
              'the notifier could not handle an audit event (logged once); it goes on with the next',
            );
          }
        }
      }
    },
  };

  const pending = () => channels.filter((channel) => !channel.idle()).length;

  const flush = async (flushTimeoutMs = 2_000): Promise<number> => {
    const deadline = Date.now() + flushTimeoutMs;
    for (const condition of [...batches.keys()]) sendBatch(condition);
    for (const channel of channels) channel.trySummary();
    while (pending() > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return pending();
  };

  let closing: Promise<void> | undefined;
  const close = (closeTimeoutMs = 2_000): Promise<void> => {
    closing ??= (async () => {
      accepting = false;
      await flush(closeTimeoutMs);
      const heldBack = channels.reduce((sum, channel) => sum + channel.held(), 0);
      if (heldBack > 0) {
        logger.warn(
          { suppressed: heldBack },
          `${heldBack} rate-limited notifications were not summarised before shutdown (they are in the audit trail)`,
        );
      }
      stopping.abort();
      for (const channel of channels) channel.stop();
      if (ownsDispatcher) await dispatcher.destroy().catch(() => undefined);
    })();
    return closing;
  };

  return { sink, flush, close };
}
