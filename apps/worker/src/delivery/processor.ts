import type { AuditLog, Logger } from '@callback-gateway/audit';
import type { OutboundPolicy } from '@callback-gateway/outbound';
import type {
  DeliveryStore,
  Registration,
  RegistrationStore,
  StoredCallback,
} from '@callback-gateway/store';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Dispatcher } from 'undici';
import type { WorkerMetrics } from '../metrics.js';
import type { Breakers } from './breaker.js';
import type { DeliveryJobData } from './pump.js';
import { retryAfterMs, retryDelayMs, type RetryPolicy } from './schedule.js';
import { sendDelivery, type DeliveryTimeouts, type SendResult } from './send.js';

/** A failed attempt that will be retried after `delayMs` (read by the queue's backoff). */
export class RetryDeliveryError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'RetryDeliveryError';
  }
}

/** What the delivery processor needs. */
export interface ProcessorDeps {
  deliveries: DeliveryStore;
  registrations: RegistrationStore;
  policy: OutboundPolicy;
  dispatcher: Dispatcher;
  breakers: Breakers;
  retry: RetryPolicy;
  timeouts: DeliveryTimeouts;
  audit: AuditLog;
  logger: Logger;
  metrics: WorkerMetrics;
  /** @defaultValue `() => new Date()` */
  now?: () => Date;
  random?: () => number;
}

type Decision =
  | { action: 'delivered' }
  | { action: 'retry'; delayMs: number; reason: string }
  | { action: 'dead_letter'; reason: string; gone?: boolean };

/** Counts against the destination's breaker: the pipeline is failing, not the request. */
function isOutage(result: SendResult): boolean {
  return (
    result.kind === 'network_error' ||
    (result.kind === 'http_error' && (result.status >= 500 || result.status === 408))
  );
}

function decide(result: SendResult, attempt: number, deps: ProcessorDeps, now: number): Decision {
  const maxAttempts = deps.retry.scheduleSeconds.length;
  const schedule = () => retryDelayMs(deps.retry, attempt, deps.random);
  const retryOrDeadLetter = (reason: string, delayMs: number): Decision =>
    attempt >= maxAttempts
      ? { action: 'dead_letter', reason: `${reason}; gave up after ${attempt} attempts` }
      : { action: 'retry', delayMs, reason };
  switch (result.kind) {
    case 'delivered':
      return { action: 'delivered' };
    case 'refused':
      return {
        action: 'dead_letter',
        reason: `destination refused by the outbound policy: ${result.detail}`,
      };
    case 'network_error':
      return retryOrDeadLetter(result.detail, schedule());
    case 'http_error': {
      const { status } = result;
      if (status === 410) {
        return {
          action: 'dead_letter',
          reason: 'the pipeline answered 410 Gone: deliveries to this registration stopped',
          gone: true,
        };
      }
      if (status === 429 || status === 503) {
        const asked = retryAfterMs(result.retryAfter, deps.retry, now);
        return retryOrDeadLetter(result.detail, asked ?? schedule());
      }
      if (status >= 400 && status < 500 && status !== 408) {
        const limit = deps.retry.maxClientErrorAttempts ?? 3;
        if (attempt >= limit) {
          return {
            action: 'dead_letter',
            reason: `${result.detail}; a ${status} was answered ${attempt} times`,
          };
        }
      }
      return retryOrDeadLetter(result.detail, schedule());
    }
  }
}

/**
 * Delivers one callback: the BullMQ processor of the delivery queue. Throws
 * {@link RetryDeliveryError} to retry on the schedule, `UnrecoverableError` once dead-lettered,
 * and `DelayedError` (no attempt spent) while the destination's breaker is open.
 */
export function createDeliveryProcessor(deps: ProcessorDeps) {
  const now = deps.now ?? (() => new Date());
  const { deliveries, registrations, audit, metrics } = deps;

  const deadLetter = async (
    callback: StoredCallback,
    registration: Registration | undefined,
    reason: string,
    attempts: number,
  ) => {
    await deliveries.transition(callback, 'dead_lettered', { last_error: reason.slice(0, 2_000) });
    metrics.deliveries.inc({ outcome: 'dead_lettered' });
    audit.record({
      type: 'delivery.dead_lettered',
      correlation: {
        registration_id: callback.registrationId,
        delivery_id: callback.id,
        callback_id: callback.id,
        ...(registration?.parseJobId !== undefined && { parse_job_id: registration.parseJobId }),
      },
      data: { attempts, last_error: reason.slice(0, 2_000) },
    });
    deps.logger.warn(
      { delivery: callback.id, registration: callback.registrationId },
      `delivery dead-lettered: ${reason}`,
    );
    throw new UnrecoverableError(reason);
  };

  return async (job: Job<DeliveryJobData>, token?: string): Promise<void> => {
    const { callbackId, registrationId } = job.data;
    const callback = await deliveries.get(callbackId);
    if (!callback) {
      deps.logger.warn({ delivery: callbackId }, 'delivery skipped: the stored callback expired');
      return;
    }
    const registration = await registrations.get(registrationId);
    const attempt = job.attemptsMade + 1;
    if (!registration) {
      return deadLetter(
        callback,
        undefined,
        'the registration no longer exists (expired)',
        attempt - 1,
      );
    }
    if (registration.deliveryStopped && job.data.replay === 0) {
      return deadLetter(
        callback,
        registration,
        `deliveries stopped: ${registration.deliveryStopped}`,
        attempt - 1,
      );
    }
    const origin = new URL(registration.deliverTo).origin;
    const wait = deps.breakers.admit(origin);
    if (wait > 0) {
      const at = Date.now() + wait;
      await deliveries.transition(callback, 'retrying', {
        next_attempt_at: new Date(at).toISOString(),
      });
      await job.moveToDelayed(at, token);
      throw new DelayedError();
    }

    const correlation = {
      registration_id: registration.id,
      delivery_id: callback.id,
      callback_id: callback.id,
      ...(registration.parseJobId !== undefined && { parse_job_id: registration.parseJobId }),
    };
    await deliveries.transition(callback, 'delivering');
    audit.record({
      type: 'delivery.attempted',
      correlation,
      data: { attempt, destination_origin: origin },
    });
    const result = await sendDelivery({ ...deps, callback, registration, now });
    const at = now();
    deps.breakers.record(origin, !isOutage(result));
    metrics.attempts.inc({
      result: 'status' in result ? `${Math.floor(result.status / 100)}xx` : result.kind,
    });
    metrics.attemptDuration.observe(result.latencyMs / 1000);
    const decision = decide(result, attempt, deps, at.getTime());
    const status = 'status' in result ? result.status : undefined;
    const error = result.kind === 'delivered' ? undefined : result.detail;
    await deliveries.recordAttempt(callback.id, {
      attempt,
      at: at.toISOString(),
      latencyMs: result.latencyMs,
      outcome:
        decision.action === 'delivered'
          ? 'delivered'
          : decision.action === 'retry'
            ? 'retry'
            : decision.action === 'dead_letter' && decision.gone
              ? 'gone'
              : 'dead_lettered',
      ...(status !== undefined && { status }),
      ...(error !== undefined && { error: error.slice(0, 500) }),
    });

    if (decision.action === 'delivered') {
      await deliveries.transition(callback, 'delivered', {
        delivered_at: at.toISOString(),
        last_status: String(status ?? 200),
      });
      metrics.deliveries.inc({ outcome: 'delivered' });
      const received = Date.parse(callback.receivedAt);
      if (!Number.isNaN(received) && job.data.replay === 0) {
        metrics.endToEnd.observe(Math.max(0, at.getTime() - received) / 1000);
      }
      audit.record({
        type: 'delivery.succeeded',
        correlation,
        data: { attempt, status: status ?? 200, latency_ms: result.latencyMs },
      });
      return;
    }

    const willRetry = decision.action === 'retry';
    const nextAt = willRetry ? new Date(at.getTime() + decision.delayMs).toISOString() : undefined;
    audit.record({
      type: 'delivery.failed',
      correlation,
      data: {
        attempt,
        reason: decision.reason.slice(0, 2_000),
        latency_ms: result.latencyMs,
        will_retry: willRetry,
        ...(status !== undefined && { status }),
        ...(result.kind === 'network_error' && { error_code: result.code }),
        ...(nextAt !== undefined && { next_attempt_at: nextAt }),
      },
    });
    if (decision.action === 'dead_letter') {
      if (decision.gone) await registrations.stopDeliveries(registration.id, decision.reason);
      return deadLetter(callback, registration, decision.reason, attempt);
    }
    await deliveries.transition(callback, 'retrying', {
      next_attempt_at: nextAt ?? '',
      last_error: decision.reason.slice(0, 2_000),
      ...(status !== undefined && { last_status: String(status) }),
    });
    metrics.deliveries.inc({ outcome: 'retry' });
    throw new RetryDeliveryError(decision.reason, decision.delayMs);
  };
}
