import type { JobDelivery } from '@callback-gateway/store';
import type { JobsOptions, Queue } from 'bullmq';

/** What a delivery job carries: the deliveries it owns (ids only; the callbacks stay in
 * Redis). A job from the pump carries a batch of first attempts; a retry or a breaker wait
 * carries one delivery. */
export interface DeliveryJobData {
  deliveries: JobDelivery[];
}

/**
 * The deliveries of a job's data. Jobs queued before the replay number was named `replay`
 * carry it as `round`: read either, so an upgrade with jobs waiting loses none.
 */
export function deliveriesOf(data: DeliveryJobData): JobDelivery[] {
  return data.deliveries.map((delivery) => {
    if (delivery.replay !== undefined) return delivery;
    const { round, ...rest } = delivery as Omit<JobDelivery, 'replay'> & { round?: number };
    return { ...rest, replay: round ?? 0 };
  });
}

/** The name of every delivery job (bull-board shows it). */
export const DELIVERY_JOB = 'deliver';

/**
 * Job ids say what a job is, and are the same whenever the same job is asked for again (after
 * a crash), so adding it twice makes one job:
 * - `b-<first stream entry id>`: a batch of first attempts from the pump;
 * - `r-<callback id>-<replay>-<attempt>`: a retry, making attempt `<attempt>` of a replay
 *   (0: the first delivery);
 * - `w-<callback id>-<replay>-<attempt>-<until ms>-<hold offset ms>`: a wait while the
 *   destination's breaker is open (no attempt spent).
 */
export const jobIds = {
  batch: (firstEntryId: string) => `b-${firstEntryId}`,
  retry: (d: JobDelivery) => `r-${d.callbackId}-${d.replay}-${d.attempt}`,
  wait: (d: JobDelivery, untilMs: number) =>
    `w-${d.callbackId}-${d.replay}-${d.attempt}-${untilMs}-${d.holdOffsetMs ?? 0}`,
  isBatch: (id: string) => id.startsWith('b-'),
};

/** The callback id in a retry or wait job id (its partition's queue holds the job). */
export function callbackOfJobId(id: string): string | undefined {
  return deliveryOfJobId(id, '')?.callbackId;
}

/** The delivery a retry or wait job id stands for (with its registration), or undefined. */
export function deliveryOfJobId(id: string, registrationId: string): JobDelivery | undefined {
  const match = /^[rw]-(cb_[0-9a-f]{32}(?:\.p\d{1,3})?)-(\d+)-(\d+)(?:-\d+-(\d+))?$/.exec(id);
  if (!match) return undefined;
  return {
    callbackId: match[1] as string,
    registrationId,
    replay: Number(match[2]),
    attempt: Number(match[3]),
    ...(match[4] !== undefined && { holdOffsetMs: Number(match[4]) }),
  };
}

/** Job options shared by every delivery job. A job whose run failed (Redis away, a bug) runs
 * again later: every step of a run can be repeated without doing its work twice. How long
 * finished jobs are kept is the queue's (see {@link deliveryQueueJobDefaults}). */
export const DELIVERY_JOB_OPTIONS: JobsOptions = {
  attempts: 1_000_000,
  backoff: { type: 'delivery-job' },
};

/** What a delivery queue keeps of its finished jobs: done ones `STORE_JOB_RETENTION_S` (at most
 * 10,000 a queue), failed ones (none fail: a run that fails runs again) as long as the
 * callbacks (`STORE_CALLBACK_RETENTION_S`). */
export function deliveryQueueJobDefaults(retention: {
  jobSeconds: number;
  callbackSeconds: number;
}): JobsOptions {
  return {
    removeOnComplete: { age: retention.jobSeconds, count: 10_000 },
    removeOnFail: { age: retention.callbackSeconds },
  };
}

/** Backoff of a job whose run failed: 0.5 s, doubling, at most 30 s. */
export function jobRunBackoffMs(attemptsMade: number): number {
  return Math.min(30_000, 500 * 2 ** Math.min(10, Math.max(0, attemptsMade - 1)));
}

/** Adds batch jobs of first attempts, by job id (`b-...`); an existing job is left as it is. */
export async function addBatches(
  queue: Queue<DeliveryJobData>,
  batches: Iterable<[jobId: string, deliveries: JobDelivery[]]>,
): Promise<void> {
  const jobs = [...batches].map(([jobId, deliveries]) => ({
    name: DELIVERY_JOB,
    data: { deliveries },
    opts: { ...DELIVERY_JOB_OPTIONS, jobId },
  }));
  if (jobs.length > 0) await queue.addBulk(jobs);
}

/** Adds a one-delivery follow-up job (retry or wait), due at `atMs`; a no-op if it exists. */
export async function addFollowUp(
  queue: Queue<DeliveryJobData>,
  jobId: string,
  delivery: JobDelivery,
  atMs: number,
  now: number = Date.now(),
): Promise<void> {
  await queue.add(
    DELIVERY_JOB,
    { deliveries: [delivery] },
    { ...DELIVERY_JOB_OPTIONS, jobId, delay: Math.max(0, atMs - now) },
  );
}
