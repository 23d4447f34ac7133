import type { AuditLog, Logger } from '@callback-gateway/audit';
import type { LlamaCloudClient } from '@callback-gateway/llamacloud';
import {
  createIntake,
  createRegistrationStore,
  type Registration,
  readAcrossPartitions,
  type StoreKeys,
} from '@callback-gateway/store';
import type { RedisClient } from '@callback-gateway/runtime';
import { Counter, Gauge, type Registry } from 'prom-client';
import { checkJob } from './recover.js';

/** Options for {@link startReconciler}. */
export interface ReconcilerOptions {
  /** A fail-fast connection (borrowed). */
  redis: RedisClient;
  keys: StoreKeys;
  /** How long reconciled callbacks and their dedup keys are kept
   * (`STORE_CALLBACK_RETENTION_S`, `STORE_DEDUP_RETENTION_S`). @defaultValue the store's */
  retention?: { callbackSeconds: number; dedupSeconds: number };
  /** undefined without `LLAMA_CLOUD_API_KEY`: overdue registrations are marked, not recovered. */
  llamaCloud: LlamaCloudClient | undefined;
  /**
   * The public base URL callbacks reach now (the one the gateway last verified), to spot
   * registrations issued under an older one. Asked at every sweep: keep it cheap.
   */
  currentBaseUrl: () => Promise<string | undefined>;
  audit: AuditLog;
  logger: Logger;
  registry: Registry;
  /** How often to sweep. @defaultValue 5_000 */
  intervalMs?: number;
  /** First wait between polls of a job still running; doubled each time. @defaultValue 10_000 */
  firstPollDelayMs?: number;
  /** Longest wait between polls of one job. @defaultValue 300_000 */
  maxPollDelayMs?: number;
  /** The gateway counts as unable to take callbacks after this long without a heartbeat. @defaultValue 15_000 */
  gatewaySilenceMs?: number;
  now?: () => number;
}

/** The running sweeper. */
export interface Reconciler {
  /** One sweep now (tests; the timer runs them anyway). */
  sweep(): Promise<void>;
  close(): Promise<void>;
}

const BATCH = 200;

/**
 * Finds the callbacks that never arrived and recovers them:
 * - marks registrations past their deadline `overdue` (metric, audit `callback.overdue`);
 * - asks the parser about their jobs (backing off while a job still runs), and when a job
 *   ended, stores the result as a `reconciled` final callback: it is delivered like any other,
 *   and a late real callback after it is a duplicate (one delivery);
 * - reconciles early the registrations issued under a public URL that changed since, and all
 *   pending ones after a period when no gateway could take callbacks (no gateway heartbeat).
 * State lives in Redis sorted sets, so it survives restarts; several workers may sweep at once.
 */
export function startReconciler(options: ReconcilerOptions): Reconciler {
  const { redis, keys, logger, audit } = options;
  const now = options.now ?? (() => Date.now());
  const firstDelay = options.firstPollDelayMs ?? 10_000;
  const maxDelay = options.maxPollDelayMs ?? 300_000;
  const silence = options.gatewaySilenceMs ?? 15_000;
  const registrations = createRegistrationStore({ redis, keys });
  const intake = createIntake({
    redis,
    keys,
    ...(options.retention && {
      callbackTtlSeconds: options.retention.callbackSeconds,
      dedupTtlSeconds: options.retention.dedupSeconds,
    }),
  });
  const registers = [options.registry];
  const overdueTotal = new Counter({
    name: 'cbgw_callbacks_overdue_total',
    help: 'Registrations that passed their callback deadline without a final callback.',
    registers,
  });
  const reconciled = new Counter({
    name: 'cbgw_reconciliations_total',
    help: 'Reconciliation polls of the parser, by outcome (delivered, duplicate, running, unknown, error).',
    labelNames: ['outcome'],
    registers,
  });
  new Gauge({
    name: 'cbgw_registrations_overdue',
    help: 'Registrations past their deadline whose final callback has not arrived (nor been reconciled).',
    registers,
    async collect() {
      try {
        this.set((await readAcrossPartitions(redis, keys, (own) => own.overdue, 0)).total);
      } catch {
        // Redis away: keep the last value.
      }
    },
  });
  const outageKey = `{${keys.prefix}}:gateway-outage-since`;
  let lastBaseCheck = 0;
  let lastBase: string | undefined;

  // Each sweep covers every partition (not only the ones this worker delivers): the claims
  // (ZREM) make each registration's step run once, however many workers sweep.
  const schedule = (id: string, at: number, onlyIfAbsent = true) => {
    const key = keys.of(id).reconcile;
    return onlyIfAbsent ? redis.zadd(key, 'NX', at, id) : redis.zadd(key, at, id);
  };

  const markOverdue = async () => {
    for (const own of keys.all) await markOverdueIn(own);
  };

  const markOverdueIn = async (own: StoreKeys) => {
    const due = await redis.zrangebyscore(own.waiting, '-inf', now(), 'LIMIT', 0, BATCH);
    for (const id of due) {
      // Claim it: with several workers, only the one whose ZREM removed it goes on.
      if ((await redis.zrem(own.waiting, id)) !== 1) continue;
      const registration = await registrations.get(id);
      if (!registration || (await redis.exists(keys.final(id)))) continue;
      await redis
        .multi()
        .hset(
          keys.registration(id),
          'state',
          registration.state === 'waiting' || registration.state === 'received'
            ? 'overdue'
            : registration.state,
        )
        .zadd(own.overdue, Date.parse(registration.expectCallbackBy), id)
        .exec();
      overdueTotal.inc();
      const waitedS = Math.max(0, (now() - Date.parse(registration.createdAt)) / 1000);
      audit.record({
        type: 'callback.overdue',
        correlation: {
          registration_id: id,
          ...(registration.parseJobId && { parse_job_id: registration.parseJobId }),
        },
        data: { deadline: registration.expectCallbackBy, waited_s: Math.round(waitedS) },
      });
      logger.warn(
        { registration: id, parseJob: registration.parseJobId },
        `callback overdue: registration ${id} passed its deadline ${registration.expectCallbackBy} without a final callback${registration.parseJobId ? '; asking the parser' : ' (no parser job id attached: it cannot be reconciled)'}`,
      );
      if (registration.parseJobId && options.llamaCloud) await schedule(id, now());
    }
  };

  const scheduleEarly = async (
    reason: string,
    keep: (registration: Pick<Registration, 'callbackBaseUrl'>) => boolean,
  ) => {
    let count = 0;
    for (const own of keys.all) {
      const pending = await redis.zrange(own.waiting, 0, 999);
      if (pending.length === 0) continue;
      // One pipeline per partition (on a cluster, a pipeline goes to one node).
      const pipeline = redis.pipeline();
      for (const id of pending)
        pipeline.hmget(keys.registration(id), 'callback_base_url', 'parse_job_id');
      const rows = (await pipeline.exec()) ?? [];
      for (const [index, [error, values]] of rows.entries()) {
        const id = pending[index];
        const [baseUrl, jobId] = (values ?? []) as (string | null)[];
        if (error || !id || !jobId || !keep({ callbackBaseUrl: baseUrl ?? '' })) continue;
        if ((await schedule(id, now())) === 1) count++;
      }
    }
    if (count > 0) logger.warn(`reconciling ${count} pending registrations early: ${reason}`);
    return count;
  };

  const checkEarlyTriggers = async () => {
    // A public URL that changed: callbacks to the old one may never arrive. A change is acted on
    // at the next sweep; the pending registrations are scanned again every 30 s as well (one
    // issued under the old URL just as it changed).
    const current = await options.currentBaseUrl();
    if (current && (current !== lastBase || now() - lastBaseCheck >= 30_000)) {
      lastBase = current;
      lastBaseCheck = now();
      await scheduleEarly(
        `the public callback URL is now ${current}`,
        (registration) => registration.callbackBaseUrl !== current,
      );
    }
    // No gateway could take callbacks for a while: senders may have given up meanwhile.
    const [, score] = await redis.zrange(keys.gateways, -1, -1, 'WITHSCORES');
    const lastBeat = score === undefined ? undefined : Number(score);
    const silent = lastBeat === undefined || now() - lastBeat > silence;
    if (silent) {
      await redis.set(outageKey, String(lastBeat ?? now()), 'NX');
    } else {
      const since = await redis.getdel(outageKey);
      if (since) {
        await scheduleEarly(
          `no gateway took callbacks from ${new Date(Number(since)).toISOString()} until now`,
          () => true,
        );
      }
    }
  };

  const reconcileDue = async () => {
    const client = options.llamaCloud;
    if (!client) return;
    // The 50 most overdue polls over every partition (earliest first): none is starved.
    const due = (
      await Promise.all(
        keys.all.map(async (own) => {
          const flat = await redis.zrangebyscore(
            own.reconcile,
            '-inf',
            now(),
            'WITHSCORES',
            'LIMIT',
            0,
            50,
          );
          const scored: [string, number][] = [];
          for (let i = 0; i + 1 < flat.length; i += 2) {
            scored.push([flat[i] as string, Number(flat[i + 1])]);
          }
          return scored;
        }),
      )
    )
      .flat()
      .sort((a, b) => a[1] - b[1])
      .slice(0, 50)
      .map(([id]) => id);
    await Promise.all(
      due.map(async (id) => {
        if ((await redis.zrem(keys.of(id).reconcile, id)) !== 1) return;
        const registration = await registrations.get(id);
        if (!registration || (await redis.exists(keys.final(id)))) {
          await redis.zrem(keys.of(id).overdue, id);
          return;
        }
        const attempt = await redis.hincrby(keys.registration(id), 'reconcile_attempts', 1);
        const retry = async (outcome: string, reason: string) => {
          reconciled.inc({ outcome });
          const delay = Math.min(maxDelay, firstDelay * 2 ** Math.min(20, attempt - 1));
          await schedule(id, now() + Math.round(delay * (0.8 + Math.random() * 0.4)), false);
          logger.info(
            { registration: id },
            `reconciliation: ${reason}; asking again in ${Math.round(delay / 1000)} s`,
          );
        };
        try {
          const check = await checkJob(client, registration);
          if (check.state === 'running')
            return await retry(
              'running',
              `job ${registration.parseJobId} is still ${check.status}`,
            );
          if (check.state === 'unknown') {
            reconciled.inc({ outcome: 'unknown' });
            return;
          }
          const result = await intake.store({
            ...check.callback,
            registrationId: id,
            receivedAt: new Date(now()).toISOString(),
          });
          if (result.outcome !== 'stored') {
            reconciled.inc({ outcome: 'duplicate' });
            return;
          }
          reconciled.inc({ outcome: 'delivered' });
          audit.record({
            type: 'callback.reconciled',
            correlation: {
              registration_id: id,
              callback_id: result.callbackId,
              ...(registration.parseJobId && { parse_job_id: registration.parseJobId }),
            },
            data: { parser_status: check.status, via: check.via },
          });
          logger.info(
            { registration: id, callback: result.callbackId },
            `reconciled: job ${registration.parseJobId} ended ${check.status}; delivering its result`,
          );
        } catch (error) {
          await retry(
            'error',
            `asking the parser failed (${error instanceof Error ? error.message : String(error)})`,
          );
        }
      }),
    );
  };

  let running: Promise<void> | undefined;
  let complained = false;
  const sweep = async () => {
    // Redis away: its connection's supervisor has said so, once, with what to do; a sweep
    // could only fail and say it again.
    if (redis.status !== 'ready') return;
    running ??= (async () => {
      try {
        await markOverdue();
        await checkEarlyTriggers();
        await reconcileDue();
        complained = false;
      } catch (error) {
        if (!complained) {
          complained = true;
          logger.warn(
            `reconciliation sweep failed (${error instanceof Error ? error.message : String(error)}); trying again next sweep`,
          );
        }
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const timer = setInterval(() => void sweep(), options.intervalMs ?? 5_000);
  timer.unref();
  return {
    sweep,
    async close() {
      clearInterval(timer);
      await running;
    },
  };
}
