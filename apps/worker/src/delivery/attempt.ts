import type { AuditEvent, AuditLog, Logger } from '@callback-gateway/audit';
import type { OutboundPolicy } from '@callback-gateway/outbound';
import type {
  AttemptOutcome,
  DeliverableCallback,
  DeliveryAttempt,
  DeliveryBatches,
  DeliveryTarget,
  HistoryRecorder,
  JobDelivery,
} from '@callback-gateway/store';
import type { Queue } from 'bullmq';
import type { Dispatcher } from 'undici';
import type { WorkerMetrics } from '../metrics.js';
import { decide, isOutage, type Decision } from './decide.js';
import { destinationOf, type DestinationGuard } from './destination-guard.js';
import { addFollowUp, jobIds, type DeliveryJobData } from './jobs.js';
import type { Limit } from './limit.js';
import type { RetryPolicy } from './schedule.js';
import { sendDelivery, type DeliveryTimeouts, type SendResult } from './send.js';

/** What one delivery's attempt needs. */
export interface AttemptDeps {
  batches: DeliveryBatches;
  /** The delivery queue of a delivery's partition (follow-up jobs go there). */
  queueOf(callbackId: string): Queue<DeliveryJobData>;
  policy: OutboundPolicy;
  dispatcher: Dispatcher;
  /** The destinations' and origins' breakers, and the in-flight cap per origin. */
  guard: DestinationGuard;
  /** Deliveries in flight at once, across every job of this worker. */
  limit: Limit;
  retry: RetryPolicy;
  timeouts: DeliveryTimeouts;
  audit: AuditLog;
  logger: Logger;
  metrics: WorkerMetrics;
  /** Per-minute history in Redis (the dashboard's charts and destinations). */
  history: HistoryRecorder;
  /** @defaultValue `() => new Date()` */
  now: () => Date;
  random?: (() => number) | undefined;
}

/** A delivery as a job run found it: what to send, and where. */
export interface DueDelivery {
  /** The job making the attempt (it must still own the delivery to commit). */
  jobId: string;
  delivery: JobDelivery;
  record: DeliverableCallback;
  /** undefined when the registration expired. */
  target: DeliveryTarget | undefined;
}

/**
 * One attempt of one delivery, in four steps: **admit** (is there anything to deliver to, and
 * does the destination guard let it go now), **send**, **decide** (delivered, retry when,
 * or dead letter), **commit** (the outcome, the follow-up job, metrics, audit). Never throws
 * for a pipeline's answer; throws only when Redis fails (the job's run is then run again).
 */
export async function attemptDelivery(deps: AttemptDeps, due: DueDelivery): Promise<void> {
  const refusal = refusalOf(due);
  if (refusal) return commitDeadLetter(deps, due, refusal, due.delivery.attempt - 1);
  const sent = await sendGuarded(deps, due, due.target as DeliveryTarget);
  if (sent.held) return commitHold(deps, due, sent);
  const verdict = judge(deps, due, sent.result);
  return commitVerdict(deps, due, verdict);
}

/** Admit, first half: why the delivery cannot be made at all, or undefined. */
function refusalOf({ delivery, target }: DueDelivery): string | undefined {
  if (!target) return 'the registration no longer exists (expired)';
  // A replay asked for by an operator goes through; a first delivery does not.
  if (target.deliveryStopped !== undefined && delivery.replay === 0) {
    return `deliveries stopped: ${target.deliveryStopped}`;
  }
  return undefined;
}

type Sent =
  | { held: true; waitMs: number; holdOffsetMs: number; sleepKey?: string | undefined }
  | { held: false; result: SendResult };

/**
 * Admit, second half, and send: every word with the destination guard happens here (its
 * breakers, and its cap on deliveries in flight per origin; see `DestinationGuard`). Its
 * waits come first, outside the worker's in-flight limit (which other destinations need); then,
 * within the limit, which covers the request alone, the request, and its result recorded.
 */
async function sendGuarded(
  deps: AttemptDeps,
  { delivery, record }: DueDelivery,
  target: DeliveryTarget,
): Promise<Sent> {
  const destination = destinationOf(target.deliverTo);
  const admission = await deps.guard.admit(destination, delivery.holdOffsetMs);
  if (!admission.go) {
    deps.metrics.held.inc({
      by: admission.by === 'origin' && admission.full ? 'origin_full' : `breaker_${admission.by}`,
    });
    return {
      held: true,
      waitMs: admission.waitMs,
      holdOffsetMs: admission.holdOffsetMs,
      sleepKey: admission.sleepKey,
    };
  }
  try {
    const result = await deps.limit(async () =>
      sendDelivery({
        callback: record,
        target,
        dispatcher: deps.dispatcher,
        policy: deps.policy,
        timeouts: deps.timeouts,
        now: deps.now,
      }),
    );
    deps.guard.record(destination, !isOutage(result), admission.originProbe);
    return { held: false, result };
  } finally {
    admission.release();
  }
}

/** An attempt's result, judged: what to do next, and its entry in the attempt log. */
interface Verdict {
  result: SendResult;
  decision: Decision;
  at: Date;
  status: number | undefined;
  /** The attempt log entry (JSON). */
  attemptJson: string;
}

/** Decide: what the result means for the delivery (counted in the attempt metrics). */
function judge(deps: AttemptDeps, { delivery, target }: DueDelivery, result: SendResult): Verdict {
  const at = deps.now();
  deps.metrics.attempts.inc({
    result: 'status' in result ? `${Math.floor(result.status / 100)}xx` : result.kind,
  });
  deps.metrics.attemptDuration.observe(result.latencyMs / 1000);
  const decision = decide(result, delivery.attempt, deps, at.getTime());
  const status = 'status' in result ? result.status : undefined;
  const error = result.kind === 'delivered' ? undefined : result.detail;
  if (target) deps.history.attempt(destinationOf(target.deliverTo).label, result.latencyMs, error);
  const entry: DeliveryAttempt = {
    attempt: delivery.attempt,
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
  return { result, decision, at, status, attemptJson: JSON.stringify(entry) };
}

/** The audit correlation of a delivery. */
function correlationOf(record: DeliverableCallback, target: DeliveryTarget | undefined) {
  return {
    registration_id: record.registrationId,
    delivery_id: record.id,
    callback_id: record.id,
    ...(target?.parseJobId !== undefined && { parse_job_id: target.parseJobId }),
  };
}

/**
 * Commits an outcome, with the audit record of the attempt when there is one: the script writes
 * it to the registration's audit stream with the attempt's log entry (applied or stale: the
 * attempt was made either way), and the other sinks get it here once written. False when the
 * delivery moved on meanwhile (replayed or expired).
 */
async function commit(
  deps: AttemptDeps,
  outcome: AttemptOutcome,
  attemptRecord?: AuditEvent,
): Promise<boolean> {
  const result = await deps.batches.commit({
    ...outcome,
    ...(attemptRecord && { attemptRecord: JSON.stringify(attemptRecord) }),
  });
  if (result !== 'gone' && attemptRecord) deps.audit.publish(attemptRecord);
  if (result === 'ok') return true;
  deps.logger.debug(
    { delivery: outcome.callbackId, result },
    'attempt outcome not applied: the delivery moved on meanwhile (replayed or expired)',
  );
  return false;
}

/** Commit: held by the breaker, no attempt spent; a wait job takes the delivery on. */
async function commitHold(
  deps: AttemptDeps,
  { jobId, delivery }: DueDelivery,
  hold: { waitMs: number; holdOffsetMs: number; sleepKey?: string | undefined },
): Promise<void> {
  const held: JobDelivery = {
    ...delivery,
    holdOffsetMs: hold.holdOffsetMs,
    heldSince: delivery.heldSince ?? Date.now(),
  };
  const at = Date.now() + hold.waitMs + hold.holdOffsetMs;
  const nextJobId = jobIds.wait(held, at);
  const applied = await commit(deps, {
    callbackId: delivery.callbackId,
    registrationId: delivery.registrationId,
    jobId,
    replay: delivery.replay,
    state: 'retrying',
    attempts: delivery.attempt - 1,
    attemptJson: undefined,
    nextJobId,
    nextAttemptAt: new Date(at).toISOString(),
  });
  if (!applied) return;
  await addFollowUp(deps.queueOf(held.callbackId), nextJobId, held, at);
  if (hold.sleepKey) {
    deps.guard.sleeping(hold.sleepKey, held.heldSince ?? 0, hold.holdOffsetMs, nextJobId);
  }
}

/** Commit: delivered, retried on the schedule, or dead-lettered, as the verdict says. */
async function commitVerdict(deps: AttemptDeps, due: DueDelivery, verdict: Verdict) {
  const { jobId, delivery, record, target } = due;
  const { result, decision, at, status, attemptJson } = verdict;
  const correlation = correlationOf(record, target);
  const destination = target && { destination_origin: destinationOf(target.deliverTo).origin };
  const base = {
    callbackId: delivery.callbackId,
    registrationId: delivery.registrationId,
    jobId,
    replay: delivery.replay,
    attempts: delivery.attempt,
    attemptJson,
    ...(status !== undefined && { lastStatus: String(status) }),
  };
  if (decision.action === 'delivered') {
    // The attempt's one record: written by the commit's script (see `commit`).
    const succeeded = deps.audit.prepare({
      type: 'delivery.succeeded',
      correlation,
      data: {
        attempt: delivery.attempt,
        status: status ?? 200,
        latency_ms: result.latencyMs,
        ...destination,
      },
    });
    const applied = await commit(
      deps,
      {
        ...base,
        state: 'delivered',
        nextJobId: undefined,
        deliveredAt: at.toISOString(),
        lastStatus: String(status ?? 200),
      },
      succeeded,
    );
    if (!applied) return;
    deps.metrics.deliveries.inc({ outcome: 'delivered' });
    deps.history.count('delivered');
    const received = Date.parse(record.receivedAt);
    if (!Number.isNaN(received) && delivery.replay === 0) {
      deps.metrics.endToEnd.observe(Math.max(0, at.getTime() - received) / 1000);
    }
    return;
  }

  const nextAtMs = decision.action === 'retry' ? at.getTime() + decision.delayMs : undefined;
  const nextAt = nextAtMs === undefined ? undefined : new Date(nextAtMs).toISOString();
  deps.audit.record({
    type: 'delivery.failed',
    correlation,
    data: {
      attempt: delivery.attempt,
      reason: decision.reason.slice(0, 2_000),
      latency_ms: result.latencyMs,
      will_retry: decision.action === 'retry',
      ...destination,
      ...(status !== undefined && { status }),
      ...(result.kind === 'network_error' && { error_code: result.code }),
      ...(nextAt !== undefined && { next_attempt_at: nextAt }),
    },
  });
  if (decision.action === 'dead_letter') {
    return commitDeadLetter(deps, due, decision.reason, delivery.attempt, {
      attemptJson,
      ...(status !== undefined && { lastStatus: String(status) }),
      ...(decision.gone && { stopDeliveries: decision.reason.slice(0, 500) }),
    });
  }
  // A new attempt has a due time of its own: a hold before it takes a new place.
  const { holdOffsetMs: _place, heldSince: _since, ...attempted } = delivery;
  const next: JobDelivery = { ...attempted, attempt: delivery.attempt + 1 };
  const nextJobId = jobIds.retry(next);
  const applied = await commit(deps, {
    ...base,
    state: 'retrying',
    nextJobId,
    nextAttemptAt: nextAt,
    lastError: decision.reason.slice(0, 2_000),
  });
  if (!applied) return;
  deps.metrics.deliveries.inc({ outcome: 'retry' });
  deps.history.count('retried');
  await addFollowUp(deps.queueOf(next.callbackId), nextJobId, next, nextAtMs ?? Date.now());
}

/** Commit: dead-lettered (the delivery waits for an operator's replay). */
async function commitDeadLetter(
  deps: AttemptDeps,
  { jobId, delivery, record, target }: DueDelivery,
  reason: string,
  attempts: number,
  extra: Partial<AttemptOutcome> = {},
): Promise<void> {
  const applied = await commit(deps, {
    callbackId: delivery.callbackId,
    registrationId: delivery.registrationId,
    jobId,
    replay: delivery.replay,
    state: 'dead_lettered',
    attempts,
    attemptJson: undefined,
    nextJobId: undefined,
    lastError: reason.slice(0, 2_000),
    ...extra,
  });
  if (!applied) return;
  deps.metrics.deliveries.inc({ outcome: 'dead_lettered' });
  deps.history.count('dead_lettered');
  deps.audit.record({
    type: 'delivery.dead_lettered',
    correlation: correlationOf(record, target),
    data: { attempts, last_error: reason.slice(0, 2_000) },
  });
  deps.logger.warn(
    { delivery: delivery.callbackId, registration: delivery.registrationId },
    `delivery dead-lettered: ${reason}`,
  );
}
