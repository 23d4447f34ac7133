import type { AuditLog, Logger } from '@callback-gateway/audit';
import type { OutboundPolicy } from '@callback-gateway/outbound';
import type {
  AttemptOutcome,
  DeliverableCallback,
  DeliveryAttempt,
  DeliveryBatches,
  DeliveryTarget,
  JobDelivery,
} from '@callback-gateway/store';
import type { Job, Queue } from 'bullmq';
import type { Dispatcher } from 'undici';
import type { WorkerMetrics } from '../metrics.js';
import type { Breakers } from './breaker.js';
import { addFollowUp, deliveryOfJobId, jobIds, type DeliveryJobData } from './jobs.js';
import type { Limit } from './limit.js';
import { decide, isOutage } from './decide.js';
import type { RetryPolicy } from './schedule.js';
import { sendDelivery, type DeliveryTimeouts } from './send.js';

/** What the delivery processor needs. */
export interface ProcessorDeps {
  batches: DeliveryBatches;
  queue: Queue<DeliveryJobData>;
  policy: OutboundPolicy;
  dispatcher: Dispatcher;
  breakers: Breakers;
  /** Deliveries in flight at once, across every job of this worker. */
  limit: Limit;
  retry: RetryPolicy;
  timeouts: DeliveryTimeouts;
  audit: AuditLog;
  logger: Logger;
  metrics: WorkerMetrics;
  /** @defaultValue `() => new Date()` */
  now?: () => Date;
  random?: () => number;
}

const origins = new Map<string, string>();
/** The origin of a destination URL (parsed once per URL). */
function originOf(url: string): string {
  let origin = origins.get(url);
  if (origin === undefined) {
    origin = new URL(url).origin;
    if (origins.size >= 10_000) origins.clear();
    origins.set(url, origin);
  }
  return origin;
}

/**
 * The processor of the delivery queue. A job owns deliveries (a batch of first attempts from
 * the pump, or one retry or wait); a run asks the store which it still owns, attempts those
 * (at most `limit` in flight across the worker), commits each outcome, and hands a delivery it
 * could not finish to a follow-up job (retry on the schedule, or wait for the breaker). A run
 * that fails (Redis away) is run again later: deliveries it already moved on are skipped, and
 * the follow-up jobs it named are added again if missing. Never throws for a pipeline's
 * answer: every outcome is committed.
 */
export function createDeliveryProcessor(deps: ProcessorDeps) {
  const now = deps.now ?? (() => new Date());
  const { batches, audit, metrics, queue } = deps;

  const commit = async (outcome: AttemptOutcome) => {
    const result = await batches.commit(outcome);
    if (result !== 'ok') {
      deps.logger.debug(
        { delivery: outcome.callbackId, result },
        'attempt outcome not applied: the delivery moved on meanwhile (replayed or expired)',
      );
    }
    return result === 'ok';
  };

  const correlation = (record: DeliverableCallback, target: DeliveryTarget | undefined) => ({
    registration_id: record.registrationId,
    delivery_id: record.id,
    callback_id: record.id,
    ...(target?.parseJobId !== undefined && { parse_job_id: target.parseJobId }),
  });

  const deadLetter = async (
    jobId: string,
    delivery: JobDelivery,
    record: DeliverableCallback,
    target: DeliveryTarget | undefined,
    reason: string,
    attempts: number,
    extra: Partial<AttemptOutcome> = {},
  ) => {
    const applied = await commit({
      callbackId: delivery.callbackId,
      registrationId: delivery.registrationId,
      jobId,
      round: delivery.round,
      state: 'dead_lettered',
      attempts,
      attemptJson: undefined,
      nextJobId: undefined,
      lastError: reason.slice(0, 2_000),
      ...extra,
    });
    if (!applied) return;
    metrics.deliveries.inc({ outcome: 'dead_lettered' });
    audit.record({
      type: 'delivery.dead_lettered',
      correlation: correlation(record, target),
      data: { attempts, last_error: reason.slice(0, 2_000) },
    });
    deps.logger.warn(
      { delivery: delivery.callbackId, registration: delivery.registrationId },
      `delivery dead-lettered: ${reason}`,
    );
  };

  const attempt = async (
    jobId: string,
    delivery: JobDelivery,
    record: DeliverableCallback,
    target: DeliveryTarget | undefined,
  ): Promise<void> => {
    const number = delivery.attempt;
    if (!target) {
      return deadLetter(
        jobId,
        delivery,
        record,
        target,
        'the registration no longer exists (expired)',
        number - 1,
      );
    }
    if (target.deliveryStopped !== undefined && delivery.round === 0) {
      return deadLetter(
        jobId,
        delivery,
        record,
        target,
        `deliveries stopped: ${target.deliveryStopped}`,
        number - 1,
      );
    }
    const origin = originOf(target.deliverTo);
    const ids = correlation(record, target);
    // The in-flight limit covers the request alone (and the breaker's say on it): the
    // outcome's commit, which waits for company, never holds a slot another delivery could use.
    const sent = await deps.limit(async () => {
      const wait = deps.breakers.admit(origin);
      if (wait > 0) return { held: true as const, wait };
      audit.record({
        type: 'delivery.attempted',
        correlation: ids,
        data: { attempt: number, destination_origin: origin },
      });
      const outcome = await sendDelivery({
        callback: record,
        target,
        dispatcher: deps.dispatcher,
        policy: deps.policy,
        timeouts: deps.timeouts,
        now,
      });
      deps.breakers.record(origin, !isOutage(outcome));
      return { held: false as const, result: outcome };
    });
    if (sent.held) {
      // Held deliveries keep their place: a millisecond apart after the breaker's next
      // opening, in the order they were first held (a delivery woken while the breaker is
      // still open keeps its offset), so they go on in the order they came due whenever it
      // closes, however many times it opened meanwhile.
      const offset = delivery.holdOffsetMs ?? deps.breakers.nextHoldOffset(origin);
      const held: JobDelivery = { ...delivery, holdOffsetMs: offset };
      const at = Date.now() + sent.wait + offset;
      const nextJobId = jobIds.wait(held, at);
      const applied = await commit({
        callbackId: delivery.callbackId,
        registrationId: delivery.registrationId,
        jobId,
        round: delivery.round,
        state: 'retrying',
        attempts: number - 1,
        attemptJson: undefined,
        nextJobId,
        nextAttemptAt: new Date(at).toISOString(),
      });
      if (applied) await addFollowUp(queue, nextJobId, held, at);
      return;
    }
    const { result } = sent;
    const at = now();
    metrics.attempts.inc({
      result: 'status' in result ? `${Math.floor(result.status / 100)}xx` : result.kind,
    });
    metrics.attemptDuration.observe(result.latencyMs / 1000);
    const decision = decide(result, number, deps, at.getTime());
    const status = 'status' in result ? result.status : undefined;
    const error = result.kind === 'delivered' ? undefined : result.detail;
    const logEntry: DeliveryAttempt = {
      attempt: number,
      at: at.toISOString(),
      latencyMs: result.latencyMs,
      outcome:
        decision.action === 'delivered'
          ? 'delivered'
          : decision.action === 'retry'
            ? 'retry'
            : decision.gone
              ? 'gone'
              : 'dead_lettered',
      ...(status !== undefined && { status }),
      ...(error !== undefined && { error: error.slice(0, 500) }),
    };
    const attemptJson = JSON.stringify(logEntry);
    const base = {
      callbackId: delivery.callbackId,
      registrationId: delivery.registrationId,
      jobId,
      round: delivery.round,
      attempts: number,
      attemptJson,
      ...(status !== undefined && { lastStatus: String(status) }),
    };

    if (decision.action === 'delivered') {
      const applied = await commit({
        ...base,
        state: 'delivered',
        nextJobId: undefined,
        deliveredAt: at.toISOString(),
        lastStatus: String(status ?? 200),
      });
      if (!applied) return;
      metrics.deliveries.inc({ outcome: 'delivered' });
      const received = Date.parse(record.receivedAt);
      if (!Number.isNaN(received) && delivery.round === 0) {
        metrics.endToEnd.observe(Math.max(0, at.getTime() - received) / 1000);
      }
      audit.record({
        type: 'delivery.succeeded',
        correlation: ids,
        data: { attempt: number, status: status ?? 200, latency_ms: result.latencyMs },
      });
      return;
    }

    const willRetry = decision.action === 'retry';
    const nextAtMs = willRetry ? at.getTime() + decision.delayMs : undefined;
    const nextAt = nextAtMs === undefined ? undefined : new Date(nextAtMs).toISOString();
    audit.record({
      type: 'delivery.failed',
      correlation: ids,
      data: {
        attempt: number,
        reason: decision.reason.slice(0, 2_000),
        latency_ms: result.latencyMs,
        will_retry: willRetry,
        ...(status !== undefined && { status }),
        ...(result.kind === 'network_error' && { error_code: result.code }),
        ...(nextAt !== undefined && { next_attempt_at: nextAt }),
      },
    });
    if (decision.action === 'dead_letter') {
      return deadLetter(jobId, delivery, record, target, decision.reason, number, {
        attemptJson,
        ...(status !== undefined && { lastStatus: String(status) }),
        ...(decision.gone && { stopDeliveries: decision.reason.slice(0, 500) }),
      });
    }
    // A new attempt has a due time of its own: a hold before it takes a new place.
    const { holdOffsetMs: _place, ...attempted } = delivery;
    const next: JobDelivery = { ...attempted, attempt: number + 1 };
    const nextJobId = jobIds.retry(next);
    const applied = await commit({
      ...base,
      state: 'retrying',
      nextJobId,
      nextAttemptAt: nextAt,
      lastError: decision.reason.slice(0, 2_000),
    });
    if (!applied) return;
    metrics.deliveries.inc({ outcome: 'retry' });
    await addFollowUp(queue, nextJobId, next, nextAtMs ?? Date.now());
  };

  return async (job: Job<DeliveryJobData>): Promise<{ attempted: number; skipped: number }> => {
    const jobId = job.id ?? '';
    const deliveries = job.data.deliveries;
    const started = await batches.start(jobId, deliveries);
    let attempted = 0;
    let skipped = 0;
    const work: Promise<void>[] = [];
    started.forEach((step, index) => {
      const delivery = deliveries[index];
      if (!delivery) return;
      if (step.action === 'skip') {
        skipped++;
        if (step.reason === 'expired') {
          deps.logger.warn(
            { delivery: delivery.callbackId },
            'delivery skipped: the stored callback expired',
          );
        }
      } else if (step.action === 'ensure') {
        // This job handed the delivery on, then its run failed: make sure the follow-up exists.
        const next = deliveryOfJobId(step.jobId, delivery.registrationId);
        const due = step.nextAttemptAt === undefined ? Date.now() : Date.parse(step.nextAttemptAt);
        if (next) work.push(addFollowUp(queue, step.jobId, next, due));
      } else {
        attempted++;
        const origin = step.target ? originOf(step.target.deliverTo) : undefined;
        work.push(
          (async () => {
            // While a half-open breaker's probe decides, wait here (not in a slot of the
            // limit, which other destinations need): released in order once it has.
            if (origin !== undefined) {
              while (deps.breakers.probing(origin)) {
                await deps.breakers.probeSettled(origin, deps.timeouts.totalMs + 1_000);
              }
            }
            await attempt(jobId, delivery, step.record, step.target);
          })(),
        );
      }
    });
    // Every delivery of the run settles before the run ends: a failed run is run again later,
    // and must not find one of its own attempts still in flight.
    const settled = await Promise.allSettled(work);
    const failure = settled.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
    return { attempted, skipped };
  };
}
