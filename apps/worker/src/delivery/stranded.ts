import type { Logger } from '@callback-gateway/audit';
import type { JobDelivery, StoreKeys } from '@callback-gateway/store';
import type { RedisClient } from '@callback-gateway/runtime';
import type { Queue } from 'bullmq';
import { addBatches, addFollowUp, deliveryOfJobId, jobIds, type DeliveryJobData } from './jobs.js';

/** The states in which a delivery must have a job that owns it. */
const OWNED_STATES = ['queued', 'delivering', 'retrying'] as const;

/** Most deliveries one sweep looks at per partition and state. */
const SWEEP_BATCH = 200;

/** Options for {@link startStrandedSweep}. */
export interface StrandedSweepOptions {
  redis: RedisClient;
  /** The partitions to sweep, with their delivery queues. */
  partitions: readonly { keys: StoreKeys; queue: Queue<DeliveryJobData> }[];
  /** A delivery is looked at once it has been in its state this long. */
  olderThanMs: number;
  /** How often to sweep. */
  intervalMs: number;
  logger: Logger;
  /** Called with the number of jobs given back. */
  onRecovered?: (count: number) => void;
}

/** A running sweep. */
export interface StrandedSweep {
  /** One sweep now; resolves to the deliveries given a job again. */
  sweep(): Promise<number>;
  close(): void;
}

/**
 * Gives a job back to deliveries that lost theirs. A delivery waiting (`queued`), in flight
 * (`delivering`) or due again (`retrying`) is owned by one job, named in its record; BullMQ runs
 * the job, and a job of a dead worker comes back through BullMQ's stalled check. But in a Redis
 * Cluster failover the steps of a hand-over can land on different primaries: a job can vanish
 * while its delivery's record stays, or run (and finish, having found no record to deliver)
 * before the record reached the new primary. Jobs removed by hand do the same. Such a delivery
 * would wait forever. The sweep finds them (past `olderThanMs` in their state, so never one
 * whose job is being added) and adds the job again under the same id (a finished one is removed
 * first): what the job should have done happens, once (a job that reappears meanwhile makes the
 * add a no-op).
 */
export function startStrandedSweep(options: StrandedSweepOptions): StrandedSweep {
  const { redis, logger } = options;

  // Where each partition's sweep of each state goes on from: the score of the last one looked
  // at, and how many at that score were (a long index is walked a batch per sweep, not its
  // oldest batch every time; deliveries that moved in one call share a score, so more than a
  // batch of them can tie, and the walk goes through them too).
  const cursors = new Map<string, { score: string; skip: number }>();
  const readState = async (key: string, before: number): Promise<string[]> => {
    const cursor = cursors.get(key);
    const flat = await redis.zrangebyscore(
      key,
      cursor?.score ?? '-inf',
      before,
      'WITHSCORES',
      'LIMIT',
      cursor?.skip ?? 0,
      SWEEP_BATCH,
    );
    const ids: string[] = [];
    const scores: string[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      ids.push(flat[i] as string);
      scores.push(flat[i + 1] as string);
    }
    // A full batch: on from its last score next time, past the ones at it already read; else
    // again from the start.
    if (ids.length === SWEEP_BATCH) {
      const last = scores[scores.length - 1] as string;
      const tied = scores.length - scores.findIndex((score) => score === last);
      cursors.set(key, {
        score: last,
        skip: cursor?.score === last ? cursor.skip + tied : tied,
      });
    } else cursors.delete(key);
    return ids;
  };

  const sweepPartition = async (keys: StoreKeys, queue: Queue<DeliveryJobData>) => {
    const before = Date.now() - options.olderThanMs;
    const ids = (
      await Promise.all(OWNED_STATES.map((state) => readState(keys.deliveryState(state), before)))
    ).flat();
    if (ids.length === 0) return 0;
    const pipeline = redis.pipeline();
    for (const id of ids) {
      pipeline.hmget(
        keys.delivery(id),
        'job',
        'registration_id',
        'replays',
        'delivery_state',
        'next_attempt_at',
      );
      pipeline.exists(keys.callback(id));
    }
    const read = (await pipeline.exec()) ?? [];
    // A delivery whose callback is gone (expired, or lost with a primary that had not passed
    // it on) has nothing to deliver: a job would only skip it again.
    const rows = ids.map((_, i): [Error | null, unknown] =>
      Number(read[i * 2 + 1]?.[1]) === 1 ? (read[i * 2] ?? [null, null]) : [null, null],
    );
    // Batch jobs regrouped (a batch's deliveries share its id), follow-ups one by one.
    const batches = new Map<string, JobDelivery[]>();
    const followUps: { jobId: string; delivery: JobDelivery; atMs: number }[] = [];
    const owners = new Set<string>();
    rows.forEach(([error, values], i) => {
      const [job, registrationId, replays, state, nextAt] = (values ?? []) as (string | null)[];
      const callbackId = ids[i];
      if (error || !callbackId || !job || !registrationId || !state) return;
      if (!(OWNED_STATES as readonly string[]).includes(state)) return;
      owners.add(job);
      if (jobIds.isBatch(job)) {
        const list = batches.get(job) ?? [];
        list.push({ callbackId, registrationId, replay: Number(replays ?? '0'), attempt: 1 });
        batches.set(job, list);
        return;
      }
      const delivery = deliveryOfJobId(job, registrationId);
      if (delivery) {
        followUps.push({ jobId: job, delivery, atMs: nextAt ? Date.parse(nextAt) : Date.now() });
      }
    });
    // Per owning job, in one round trip: does it exist, and did it finish? A job that
    // finished while a delivery it owns is still waiting never had it (it ran before the
    // delivery's record reached this Redis, in a failover): it is run again.
    const jobs = [...owners];
    const probe = redis.pipeline();
    for (const jobId of jobs) {
      probe.exists(queue.toKey(jobId));
      probe.zscore(queue.toKey('completed'), jobId);
      probe.zscore(queue.toKey('failed'), jobId);
    }
    const answers = (await probe.exec()) ?? [];
    const missing = new Set<string>();
    const finished: string[] = [];
    jobs.forEach((jobId, i) => {
      const [exists, completed, failed] = [0, 1, 2].map((k) => answers[i * 3 + k]?.[1]);
      if (Number(exists) === 0) missing.add(jobId);
      else if (completed !== null || failed !== null) finished.push(jobId);
    });
    for (const jobId of finished) {
      await queue.remove(jobId);
      missing.add(jobId);
    }
    if (missing.size === 0) return 0;
    let recovered = 0;
    const lostBatches = [...batches].filter(([jobId]) => missing.has(jobId));
    await addBatches(queue, lostBatches);
    for (const [, deliveries] of lostBatches) recovered += deliveries.length;
    for (const followUp of followUps) {
      if (!missing.has(followUp.jobId)) continue;
      await addFollowUp(queue, followUp.jobId, followUp.delivery, followUp.atMs);
      recovered++;
    }
    logger.warn(
      { partition: keys.partition, jobs: [...missing].slice(0, 20) },
      `${recovered} deliveries had lost the job that owns them (a Redis failover keeps later writes and can lose earlier ones): their jobs are queued again`,
    );
    return recovered;
  };

  // A partition whose sweep fails (Redis away, a failover under way) does not hold the others
  // back; the first failure of a run of them is a warning, the recovery an info line.
  const failing = new Set<number>();
  const sweep = async () => {
    let recovered = 0;
    for (const { keys, queue } of options.partitions) {
      try {
        recovered += await sweepPartition(keys, queue);
        if (failing.delete(keys.partition)) {
          logger.info({ partition: keys.partition }, 'stranded delivery sweep works again');
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (!failing.has(keys.partition)) {
          failing.add(keys.partition);
          logger.warn(
            { partition: keys.partition, reason: message },
            `stranded delivery sweep of partition ${keys.partition} failed (${message}); trying again every ${Math.round(options.intervalMs / 1000)} s`,
          );
        }
      }
    }
    if (recovered > 0) options.onRecovered?.(recovered);
    return recovered;
  };

  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void sweep().finally(() => {
      running = false;
    });
  }, options.intervalMs);
  timer.unref();
  return {
    sweep,
    close: () => clearInterval(timer),
  };
}
