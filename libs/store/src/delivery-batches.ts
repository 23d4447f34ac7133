import type { Cluster, Redis } from 'ioredis';
import {
  decodeCallbackRecordBytes,
  type CallbackHeader,
  type DeliverableCallback,
} from './callback-record.js';
import type { DeliveryState } from './deliveries.js';
import type { StoreKeys } from './keys.js';
import { COMMIT_SCRIPT, MATERIALIZE_SCRIPT, START_SCRIPT } from './delivery-scripts.js';
import { groupCommit } from './group-commit.js';

/*
 * How a delivery moves, in batches (each step one script call for many deliveries):
 *
 * 1. materialize: the worker's pump took entries from the ingest stream; each delivery gets its
 *    hash (state `queued`) and the id of the queue job that owns its next attempt. An entry
 *    read again (the pump died before acknowledging it) keeps the owner it got the first time.
 *    A new delivery's `callback.received` audit record goes to its registration's audit stream
 *    in the same call.
 * 2. start: a job begins; of its deliveries it attempts those it still owns (state `delivering`,
 *    with the record and the registration's delivery fields in the answer), skips the others
 *    (done, replayed since, or owned by another job) and names the follow-up jobs it handed its
 *    deliveries to, so a job that runs again after a crash can make sure they exist.
 * 3. commit: an attempt's outcome (group commit over the attempts that ended in one turn of the
 *    event loop): the attempt is logged, the state and indexes move, the owner becomes the
 *    follow-up job (a retry, or a wait while the destination's breaker is open), or none once
 *    delivered or dead-lettered. The attempt's audit record goes to the registration's audit
 *    stream in the same call: one round trip, one record.
 */

/** An entry of the ingest stream, as the pump read it. */
export interface IngestEntry {
  /** The stream entry id. */
  entryId: string;
  callbackId: string;
  registrationId: string;
  /** 0 for the first delivery, n for the n-th replay. */
  replay: number;
  /** The record's header (first delivery only). */
  header: CallbackHeader | undefined;
  /** Its `callback.received` audit record (JSON), written to the registration's audit stream
   * when the delivery's hash is created (once per callback). */
  auditRecord?: string | undefined;
}

/** What became of an entry the pump materialized. */
export type EntryOwnership =
  /** Owned by `jobId` (this call's job, or the one it got when first read). */
  | { outcome: 'owned'; jobId: string; isNew: boolean }
  /** Nothing to do: superseded by a newer replay, already done, or its callback expired. */
  | { outcome: 'skip' };

/** A delivery a job carries: its callback, replay (0: the first delivery) and attempt number
 * within it. */
export interface JobDelivery {
  callbackId: string;
  registrationId: string;
  replay: number;
  attempt: number;
  /** Held by its destination's breaker: its place (ms after the breaker's reopening) among the
   * deliveries held, kept from one hold to the next so they wake in the order they came. */
  holdOffsetMs?: number;
  /** When it was first held since its last attempt (ms): held deliveries woken together go in
   * this order. */
  heldSince?: number;
}

/** The registration fields a delivery needs (undefined when the registration expired). */
export interface DeliveryTarget {
  deliverTo: string;
  deliverySecret: string;
  parseJobId: string | undefined;
  metadata: Record<string, unknown> | undefined;
  deliveryStopped: string | undefined;
}

/** What a job does with each of its deliveries. */
export type DeliveryStep =
  | { action: 'deliver'; record: DeliverableCallback; target: DeliveryTarget | undefined }
  /** Handed to a follow-up job by an earlier run of this job: make sure it exists. */
  | { action: 'ensure'; jobId: string; nextAttemptAt: string | undefined }
  | { action: 'skip'; reason: 'not_owner' | 'done' | 'expired' };

/** The outcome of one attempt, to commit. */
export interface AttemptOutcome {
  callbackId: string;
  registrationId: string;
  /** The job that made the attempt (it must still own the delivery to move it). */
  jobId: string;
  /** 0 for the first delivery, n for the n-th replay. */
  replay: number;
  state: Extract<DeliveryState, 'delivered' | 'retrying' | 'dead_lettered'>;
  /** The attempt number (within the replay) the delivery has now used. */
  attempts: number;
  /** The attempt's log entry (JSON), or undefined when no attempt was made (breaker wait). */
  attemptJson: string | undefined;
  /** The follow-up job that owns the delivery now (retry or wait), when there is one. */
  nextJobId: string | undefined;
  lastStatus?: string | undefined;
  lastError?: string | undefined;
  nextAttemptAt?: string | undefined;
  deliveredAt?: string | undefined;
  /** Set on the registration: deliveries to it stop (its pipeline answered 410). */
  stopDeliveries?: string | undefined;
  /** The attempt's audit record (JSON), written with its attempt log entry (while the delivery
   * exists, applied or stale: the attempt was made either way). */
  attemptRecord?: string | undefined;
}

type BatchRedis = (Redis | Cluster) & {
  cbgwMaterialize(...args: string[]): Promise<string[]>;
  cbgwStartBuffer(...args: string[]): Promise<Buffer[][]>;
  cbgwCommit(...args: string[]): Promise<string[]>;
};

/** The worker's batched steps of deliveries; see the comment at the top of this file. */
export interface DeliveryBatches {
  /** Gives the entries' deliveries their hash and `jobId` as owner (unless they have one). */
  materialize(entries: readonly IngestEntry[], jobId: string): Promise<EntryOwnership[]>;
  /** What job `jobId` does with each of its deliveries (one answer per delivery, in order). */
  start(jobId: string, deliveries: readonly JobDelivery[]): Promise<DeliveryStep[]>;
  /** Commits an attempt's outcome (group commit); resolves to `ok`, `stale` or `gone`. */
  commit(outcome: AttemptOutcome): Promise<'ok' | 'stale' | 'gone'>;
}

/** Options for {@link createDeliveryBatches}. */
export interface DeliveryBatchesOptions {
  /** A borrowed connection. */
  redis: Redis | Cluster;
  keys: StoreKeys;
  /** How long delivery hashes and attempt logs are kept. @defaultValue 1_209_600 (14 days) */
  ttlSeconds?: number;
  /** @defaultValue `() => Date.now()` */
  now?: () => number;
  /**
   * The registrations' audit streams the scripts append to (`keys.registrationAudit`): their
   * cap (`MAXLEN ~`) and how long one is kept after its newest callback.
   * @defaultValue `{ maxLength: 1_000, ttlSeconds: 2_592_000 }` (the audit store's)
   */
  registrationAudit?: { maxLength?: number; ttlSeconds?: number };
}

function parseMetadata(text: string): Record<string, unknown> | undefined {
  if (text === '') return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Creates the batched delivery steps on a borrowed connection. */
export function createDeliveryBatches(options: DeliveryBatchesOptions): DeliveryBatches {
  const redis = options.redis as BatchRedis;
  const { keys } = options;
  const ttl = String(options.ttlSeconds ?? 1_209_600);
  const now = options.now ?? (() => Date.now());
  const auditCap = String(options.registrationAudit?.maxLength ?? 1_000);
  const auditTtl = String(options.registrationAudit?.ttlSeconds ?? 2_592_000);
  if (typeof redis.cbgwMaterialize !== 'function') {
    redis.defineCommand('cbgwMaterialize', { lua: MATERIALIZE_SCRIPT });
    redis.defineCommand('cbgwStart', { lua: START_SCRIPT });
    redis.defineCommand('cbgwCommit', { lua: COMMIT_SCRIPT });
  }

  // A script call touches one partition: a batch (a job's deliveries, an ingest stream's
  // entries) belongs to one; outcomes are grouped by theirs.
  const partitionKeys = (callbackId: string | undefined) => keys.of(callbackId ?? '');

  const writeOutcomes = async (outcomes: AttemptOutcome[]) => {
    const keyArgs = [partitionKeys(outcomes[0]?.callbackId).deliveryState('')];
    const argv = [String(now()), ttl, auditCap, auditTtl];
    for (const o of outcomes) {
      keyArgs.push(
        keys.delivery(o.callbackId),
        keys.deliveryAttempts(o.callbackId),
        keys.registration(o.registrationId),
        keys.registrationAudit(o.registrationId),
      );
      argv.push(
        o.callbackId,
        o.jobId,
        String(o.replay),
        o.state,
        String(o.attempts),
        o.attemptJson ?? '',
        o.nextJobId ?? '',
        o.lastStatus ?? '',
        o.lastError ?? '',
        o.nextAttemptAt ?? '',
        o.deliveredAt ?? '',
        o.stopDeliveries ?? '',
        o.attemptRecord ?? '',
      );
    }
    const out = await redis.cbgwCommit(String(keyArgs.length), ...keyArgs, ...argv);
    return out as ('ok' | 'stale' | 'gone')[];
  };

  // The pipeline has its answer by then: outcomes may wait a few ms to go in larger groups.
  const commits = keys.all.map(() => groupCommit(writeOutcomes, { maxItems: 256, lingerMs: 10 }));

  return {
    async materialize(entries, jobId) {
      if (entries.length === 0) return [];
      const keyArgs = [partitionKeys(entries[0]?.callbackId).deliveryState('queued')];
      const argv = [jobId, ttl, String(now()), auditCap, auditTtl];
      for (const entry of entries) {
        const h = entry.header;
        keyArgs.push(
          keys.delivery(entry.callbackId),
          keys.registrationCallbacks(entry.registrationId),
          keys.registrationAudit(entry.registrationId),
        );
        argv.push(
          entry.callbackId,
          entry.registrationId,
          String(entry.replay),
          h ? '1' : '0',
          h?.format ?? '',
          h?.event_type ?? '',
          h?.event_id ?? '',
          h?.job_id ?? '',
          h?.received_at ?? '',
          h?.reconciled === 1 ? '1' : '0',
          entry.auditRecord ?? '',
        );
      }
      const out = await redis.cbgwMaterialize(String(keyArgs.length), ...keyArgs, ...argv);
      return out.map((owner): EntryOwnership =>
        owner === ''
          ? { outcome: 'skip' }
          : { outcome: 'owned', jobId: owner, isNew: owner === jobId },
      );
    },

    async start(jobId, deliveries) {
      if (deliveries.length === 0) return [];
      const keyArgs = [partitionKeys(deliveries[0]?.callbackId).deliveryState('')];
      const argv = [jobId, String(now())];
      for (const d of deliveries) {
        keyArgs.push(
          keys.delivery(d.callbackId),
          keys.callback(d.callbackId),
          keys.registration(d.registrationId),
        );
        argv.push(d.callbackId, String(d.replay));
      }
      // As bytes: the payload goes to the pipeline as Redis holds it, never decoded.
      const out = await redis.cbgwStartBuffer(String(keyArgs.length), ...keyArgs, ...argv);
      return out.map((answer): DeliveryStep => {
        const [first, ...rest] = answer;
        const action = first?.toString();
        const text = (index: number) => rest[index]?.toString() ?? '';
        if (action === 'deliver') {
          const record = rest[0] ? decodeCallbackRecordBytes(rest[0]) : undefined;
          if (!record) return { action: 'skip', reason: 'expired' };
          const [deliverTo, secret, parseJobId, metadata, stopped] = [1, 2, 3, 4, 5].map(text);
          return {
            action: 'deliver',
            record,
            target:
              !deliverTo || !secret
                ? undefined
                : {
                    deliverTo,
                    deliverySecret: secret,
                    parseJobId: parseJobId === '' ? undefined : parseJobId,
                    metadata: parseMetadata(metadata ?? ''),
                    deliveryStopped: stopped === '' ? undefined : stopped,
                  },
          };
        }
        if (action === 'ensure') {
          const nextAttemptAt = text(1);
          return {
            action: 'ensure',
            jobId: text(0),
            nextAttemptAt: nextAttemptAt === '' ? undefined : nextAttemptAt,
          };
        }
        const reason = text(0);
        return {
          action: 'skip',
          reason: reason === 'done' || reason === 'expired' ? reason : 'not_owner',
        };
      });
    },

    commit(outcome) {
      const commit = commits[keys.of(outcome.callbackId).partition];
      if (!commit) return Promise.reject(new Error(`${outcome.callbackId}: partition unknown`));
      return commit(outcome);
    },
  };
}
