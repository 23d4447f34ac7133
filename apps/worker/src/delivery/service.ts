import type { AuditLog, Logger } from '@callback-gateway/audit';
import { createGuardedAgent, type OutboundPolicy } from '@callback-gateway/outbound';
import type { ErrorEmitter } from '@callback-gateway/bootstrap';
import {
  QUEUES,
  createDeliveryBatches,
  createDeliveryStore,
  createHistoryRecorder,
  oldestWaitingSeconds,
  recordBreakerTransition,
  type StoreKeys,
} from '@callback-gateway/store';
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import type { RedisClient } from '@callback-gateway/runtime';
import type { Registry } from 'prom-client';
import { createWorkerMetrics, type WorkerGaugeSources } from '../metrics.js';
import type { BreakerOptions } from './breaker.js';
import { DestinationGuard } from './destination-guard.js';
import {
  callbackOfJobId,
  deliveryQueueJobDefaults,
  jobRunBackoffMs,
  type DeliveryJobData,
} from './jobs.js';
import { createLimit } from './limit.js';
import { createDeliveryProcessor } from './processor.js';
import { startIngestPump, type IngestPump } from './pump.js';
import { startStrandedSweep, type StrandedSweep } from './stranded.js';
import type { RetryPolicy } from './schedule.js';
import type { DeliveryTimeouts } from './send.js';

/** Held deliveries woken per round trip when their breaker closes. */
const WAKE_CHUNK = 200;

/** Options for {@link startDeliveryService}. */
export interface DeliveryServiceOptions {
  /** BullMQ connection options (it opens and owns its own connections). */
  connection: ConnectionOptions;
  /** The partitions this worker consumes (`WORKER_PARTITIONS`). @defaultValue every one */
  partitions?: readonly number[];
  /** A connection for each partition's pump (it blocks on it), in `partitions` order;
   * borrowed. */
  pumpRedis: readonly RedisClient[];
  /** A connection for the store (fail-fast); borrowed. */
  storeRedis: RedisClient;
  keys: StoreKeys;
  /** How long delivery records are kept (`STORE_CALLBACK_RETENTION_S`). @defaultValue the store's */
  recordTtlSeconds?: number;
  /** How long done jobs are kept (`STORE_JOB_RETENTION_S`). @defaultValue 3_600 */
  jobRetentionSeconds?: number;
  /** How long a registration's audit stream is kept after its newest callback
   * (`AUDIT_REGISTRATION_RETENTION_S`). @defaultValue the store's */
  auditRetentionSeconds?: number;
  policy: OutboundPolicy;
  retry: RetryPolicy;
  timeouts: DeliveryTimeouts;
  breaker?: BreakerOptions;
  /** Deliveries in flight to one origin at most. @defaultValue 10 */
  maxInFlightPerOrigin?: number;
  /** Deliveries in flight at once (also the most deliveries one job from the pump carries).
   * @defaultValue 50 */
  concurrency?: number;
  /**
   * How long a job's lock lasts without renewal: a worker that died (SIGKILL) gives its jobs
   * back after this long. Renewed every half of it while the worker lives, so a slow request
   * is never delivered twice while still in flight.
   * @defaultValue 2 × the total timeout + 10 s
   */
  lockDurationMs?: number;
  /**
   * Watches the queue's and the worker's `error` events (see `createQueueErrorReporter`).
   * @defaultValue logged at debug level
   */
  watchQueue?: (name: string, emitter: ErrorEmitter) => void;
  audit: AuditLog;
  logger: Logger;
  registry: Registry;
  random?: () => number;
}

/** The running delivery machinery. */
export interface DeliveryService {
  /** Every partition's delivery queue, by partition. */
  readonly queues: readonly Queue<DeliveryJobData>[];
  /** The pumps and the queue workers of the partitions consumed, in `partitions` order. */
  readonly pumps: readonly IngestPump[];
  readonly workers: readonly Worker<DeliveryJobData>[];
  readonly guard: DestinationGuard;
  /** Gives deliveries whose job vanished their job back (see `startStrandedSweep`). */
  readonly stranded: StrandedSweep;
  /** Stops taking jobs, lets in-flight deliveries finish within `deadlineMs` (the rest go back
   * to the queue when their lock expires), closes what it opened. Idempotent. */
  close(deadlineMs?: number): Promise<void>;
}

/** Starts, for each partition consumed, its pump and its delivery queue's worker. */
export function startDeliveryService(options: DeliveryServiceOptions): DeliveryService {
  const { keys, logger, audit } = options;
  const partitions = options.partitions ?? keys.all.map((own) => own.partition);
  if (options.pumpRedis.length !== partitions.length) {
    throw new Error(
      `${partitions.length} partitions consumed, ${options.pumpRedis.length} pump connections`,
    );
  }
  const deliveries = createDeliveryStore({ redis: options.storeRedis, keys });
  const batches = createDeliveryBatches({
    redis: options.storeRedis,
    keys,
    ...(options.recordTtlSeconds !== undefined && { ttlSeconds: options.recordTtlSeconds }),
    ...(options.auditRetentionSeconds !== undefined && {
      registrationAudit: { ttlSeconds: options.auditRetentionSeconds },
    }),
  });
  const concurrency = options.concurrency ?? 50;
  const watchQueue =
    options.watchQueue ??
    ((name: string, emitter: ErrorEmitter) =>
      emitter.on('error', (error) =>
        logger.debug({ err: error }, `queue ${name}: ${error.message}`),
      ));
  // Every partition's queue (follow-ups, the gauges); each on the partition's hash tag.
  const queues = keys.all.map((own) => {
    const queue = new Queue<DeliveryJobData>(QUEUES.deliveries, {
      connection: options.connection,
      prefix: own.tag,
      defaultJobOptions: deliveryQueueJobDefaults({
        jobSeconds: options.jobRetentionSeconds ?? 3_600,
        callbackSeconds: options.recordTtlSeconds ?? 14 * 86_400,
      }),
    });
    watchQueue(QUEUES.deliveries, queue);
    return queue;
  });
  const queueOf = (callbackId: string): Queue<DeliveryJobData> => {
    const queue = queues[keys.of(callbackId).partition];
    if (!queue) throw new Error(`${callbackId}: past STORE_PARTITIONS (${keys.partitions})`);
    return queue;
  };
  // Filled once everything the gauges read exists.
  const gauges: { sources?: WorkerGaugeSources } = {};
  const metrics = createWorkerMetrics(options.registry, () => gauges.sources);
  const history = createHistoryRecorder({ redis: options.storeRedis, keys });
  const guard = new DestinationGuard({
    // A breaker closed: its sleeping deliveries' wait jobs go now, in the order they were held.
    onWake: (jobIds) => {
      void (async () => {
        // In order, a chunk at a time: one connection runs a chunk's commands in the order
        // they were sent. Small chunks cost a round trip each: ten at a time, a backlog of
        // 2,380 took about a second to wake, and deliveries that had not slept overtook the
        // ones still asleep (docs/reliability-log.md, 2026-12-03).
        for (let from = 0; from < jobIds.length; from += WAKE_CHUNK) {
          await Promise.all(
            jobIds.slice(from, from + WAKE_CHUNK).map(async (id) =>
              // Gone (replayed, expired) or already running: nothing to wake.
              (await queueOf(callbackOfJobId(id) ?? '').getJob(id))
                ?.promote()
                .catch(() => undefined),
            ),
          );
        }
      })().catch((error: unknown) =>
        logger.debug({ err: error }, 'waking held deliveries failed: they wake on their timers'),
      );
    },
    onOriginFull: (origin) =>
      logger.warn(
        { origin },
        `deliveries to ${origin} are held: ${options.maxInFlightPerOrigin ?? 10} are in flight there and none has answered for a second (DELIVERY_MAX_IN_FLIGHT_PER_ORIGIN); other pipelines are not affected`,
      ),
    ...(options.breaker && { breaker: options.breaker }),
    maxInFlightPerOrigin: options.maxInFlightPerOrigin ?? 10,
    onTransition: (transition) => {
      metrics.breakerTransitions.inc({ to: transition.to, level: transition.level });
      logger.warn(
        {
          destination: transition.label,
          level: transition.level,
          from: transition.from,
          to: transition.to,
        },
        `circuit breaker for ${transition.level === 'origin' ? 'the origin ' : ''}${transition.label}: ${transition.from} -> ${transition.to} (${transition.reason})`,
      );
      audit.record({
        type: 'breaker.state_changed',
        data: {
          destination_origin: transition.origin,
          ...(transition.level === 'destination' && { destination: transition.label }),
          level: transition.level,
          from: transition.from,
          to: transition.to,
          reason: transition.reason.slice(0, 500),
        },
      });
      // For the dashboard; best-effort (the metric and the audit record are the reference).
      void recordBreakerTransition(options.storeRedis, keys, {
        level: transition.level,
        label: transition.label,
        origin: transition.origin,
        from: transition.from,
        state: transition.to,
        reason: transition.reason.slice(0, 500),
      }).catch(() => undefined);
    },
  });
  const dispatcher = createGuardedAgent(options.policy, {
    connect: { timeout: options.timeouts.connectMs },
    keepAliveTimeout: 30_000,
    connections: 64,
  });
  const processor = createDeliveryProcessor({
    batches,
    queueOf,
    limit: createLimit(concurrency),
    policy: options.policy,
    dispatcher,
    guard,
    retry: options.retry,
    timeouts: options.timeouts,
    audit,
    logger,
    metrics,
    history,
    ...(options.random !== undefined && { random: options.random }),
  });
  const lockDuration = options.lockDurationMs ?? options.timeouts.totalMs * 2 + 10_000;
  const partitionKeys = (partition: number) => {
    const own = keys.all[partition];
    if (!own)
      throw new Error(`partition ${partition} is past STORE_PARTITIONS (${keys.partitions})`);
    return own;
  };
  // Each partition consumed: a queue worker, and a pump from its ingest stream. The limit of
  // deliveries in flight is the process's, shared by every partition.
  const workers = partitions.map((partition) => {
    const worker = new Worker<DeliveryJobData>(QUEUES.deliveries, processor, {
      connection: options.connection,
      prefix: partitionKeys(partition).tag,
      // Jobs at once: batches wait for the shared limit of deliveries in flight, so there are
      // always jobs ready when a slot frees up; retries and waits are jobs of one delivery.
      // Twice the limit: a slow origin's deliveries may wait a moment in the guard (its share,
      // at most), and the jobs they keep must not be the ones a healthy origin needs.
      concurrency: concurrency * 2,
      lockDuration,
      // Look for expired locks (a dead worker's jobs) as often as a lock lasts, not every 30 s.
      stalledInterval: Math.min(30_000, lockDuration),
      // A job whose worker died is run again, never failed for stalling.
      maxStalledCount: 1_000,
      settings: {
        // A run that failed (Redis away): again after 0.5 s, doubling, at most 30 s.
        backoffStrategy: (attemptsMade: number) => jobRunBackoffMs(attemptsMade),
      },
    });
    watchQueue(QUEUES.deliveries, worker);
    return worker;
  });
  const pumps = partitions.map((partition, i) =>
    startIngestPump({
      redis: options.pumpRedis[i] as RedisClient,
      keys: partitionKeys(partition),
      batches,
      queue: queues[partition] as Queue<DeliveryJobData>,
      audit,
      logger,
      jobSize: concurrency,
      // Entries a dead worker's pump read but never queued are taken over as soon as its locks
      // would have expired.
      claimIdleMs: Math.min(30_000, lockDuration),
    }),
  );
  // Deliveries whose job vanished (a failover lost it) get it back.
  const stranded = startStrandedSweep({
    redis: options.storeRedis,
    partitions: partitions.map((partition) => ({
      keys: partitionKeys(partition),
      queue: queues[partition] as Queue<DeliveryJobData>,
    })),
    olderThanMs: Math.max(10_000, lockDuration),
    intervalMs: Math.max(5_000, Math.min(30_000, lockDuration)),
    logger,
    onRecovered: (count) => metrics.deliveriesRecovered.inc(count),
  });
  gauges.sources = {
    queues,
    deliveries,
    guard,
    ingestBacklog: async () => {
      const lengths = await Promise.all(keys.all.map((own) => options.storeRedis.xlen(own.ingest)));
      return lengths.reduce((sum, length) => sum + length, 0);
    },
    oldestWaiting: () => oldestWaitingSeconds(queues, options.storeRedis, keys),
  };
  // The history's oldest-waiting chart: a sample every 15 s (each minute keeps its largest).
  const sampler = setInterval(() => {
    void oldestWaitingSeconds(queues, options.storeRedis, keys)
      .then((seconds) => history.oldestWaiting(seconds))
      .catch(() => undefined);
  }, 15_000);
  sampler.unref();

  let closing: Promise<void> | undefined;
  return {
    queues,
    pumps,
    workers,
    guard,
    stranded,
    close(deadlineMs = 10_000) {
      closing ??= (async () => {
        clearInterval(sampler);
        stranded.close();
        await Promise.all(pumps.map((pump) => pump.close()));
        const graceful = Promise.all(workers.map((worker) => worker.close()));
        const timer = new Promise<'late'>((resolve) =>
          setTimeout(() => resolve('late'), Math.max(0, deadlineMs - 1_000)).unref(),
        );
        if ((await Promise.race([graceful, timer])) === 'late') {
          logger.warn(
            'deliveries still in flight at the shutdown deadline: they go back to the queue when their lock expires',
          );
          await Promise.all(workers.map((worker) => worker.close(true)));
        }
        await history.close();
        await Promise.all(queues.map((queue) => queue.close()));
        await dispatcher.close().catch(() => undefined);
      })();
      return closing;
    },
  };
}
