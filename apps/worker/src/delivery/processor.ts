import type { DeliveryStep, JobDelivery } from '@callback-gateway/store';
import type { Job } from 'bullmq';
import { attemptDelivery, type AttemptDeps } from './attempt.js';
import { addFollowUp, deliveriesOf, deliveryOfJobId, type DeliveryJobData } from './jobs.js';

/** What the delivery processor needs. */
export type ProcessorDeps = Omit<AttemptDeps, 'now'> & {
  /** @defaultValue `() => new Date()` */
  now?: () => Date;
};

/**
 * The processor of the delivery queue. A job owns deliveries (a batch of first attempts from
 * the pump, or one retry or wait); a run asks the store which it still owns, attempts those
 * (see {@link attemptDelivery}: at most `limit` in flight across the worker), and makes sure
 * the follow-up jobs an earlier, failed run of the same job named exist. A run that fails
 * (Redis away) is run again later: deliveries it already moved on are skipped. Never throws
 * for a pipeline's answer: every outcome is committed.
 */
export function createDeliveryProcessor(deps: ProcessorDeps) {
  const attemptDeps: AttemptDeps = { ...deps, now: deps.now ?? (() => new Date()) };

  /** What the run does with one delivery, as the store said. */
  const follow = (
    jobId: string,
    delivery: JobDelivery,
    step: DeliveryStep,
  ): Promise<void> | undefined => {
    switch (step.action) {
      case 'skip':
        if (step.reason === 'expired') {
          deps.logger.warn(
            { delivery: delivery.callbackId },
            'delivery skipped: the stored callback expired',
          );
        }
        return undefined;
      case 'ensure': {
        // This job handed the delivery on, then its run failed: make sure the follow-up exists.
        const next = deliveryOfJobId(step.jobId, delivery.registrationId);
        const due = step.nextAttemptAt === undefined ? Date.now() : Date.parse(step.nextAttemptAt);
        return next ? addFollowUp(deps.queueOf(next.callbackId), step.jobId, next, due) : undefined;
      }
      case 'deliver':
        return attemptDelivery(attemptDeps, {
          jobId,
          delivery,
          record: step.record,
          target: step.target,
        });
    }
  };

  return async (job: Job<DeliveryJobData>): Promise<{ attempted: number; skipped: number }> => {
    const jobId = job.id ?? '';
    const deliveries = deliveriesOf(job.data);
    const steps = await deps.batches.start(jobId, deliveries);
    const work: Promise<void>[] = [];
    steps.forEach((step, index) => {
      const delivery = deliveries[index];
      const started = delivery && follow(jobId, delivery, step);
      if (started) work.push(started);
    });
    // Every delivery of the run settles before the run ends: a failed run is run again later,
    // and must not find one of its own attempts still in flight.
    const settled = await Promise.allSettled(work);
    const failure = settled.find((result) => result.status === 'rejected');
    if (failure) throw failure.reason;
    return {
      attempted: steps.filter((step) => step.action === 'deliver').length,
      skipped: steps.filter((step) => step.action === 'skip').length,
    };
  };
}
