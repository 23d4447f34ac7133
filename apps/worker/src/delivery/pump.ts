import { hostname } from 'node:os';
import type { AuditLog, Logger } from '@callback-gateway/audit';
import {
  parseCallbackHeader,
  type DeliveryBatches,
  type IngestEntry,
  type JobDelivery,
  type StoreKeys,
} from '@callback-gateway/store';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { DELIVERY_JOB, DELIVERY_JOB_OPTIONS, jobIds, type DeliveryJobData } from './jobs.js';

/** Options for {@link startIngestPump}. */
export interface IngestPumpOptions {
  /** A connection of its own: the pump blocks on it (`XREADGROUP BLOCK`). Owned by the caller. */
  redis: Redis;
  keys: StoreKeys;
  batches: DeliveryBatches;
  queue: Queue<DeliveryJobData>;
  audit: AuditLog;
  logger: Logger;
  /** Who sends callbacks (the audit actor of `callback.received`). @defaultValue `'llamaparse'` */
  callbackSource?: string;
  /** @defaultValue `<host>-<pid>` */
  consumer?: string;
  /** Entries another consumer read but did not hand over for this long are taken over. @defaultValue 30_000 */
  claimIdleMs?: number;
  /** Most deliveries in one job. @defaultValue 50 */
  jobSize?: number;
  /** Most entries read at once. @defaultValue 4 × `jobSize` */
  batchSize?: number;
  /**
   * How long to wait for more after reading fewer than `jobSize` entries (adds at most this
   * to a delivery's latency; saves queue work per delivery at moderate rates).
   * @defaultValue 5
   */
  lingerMs?: number;
}

/** A running pump. */
export interface IngestPump {
  /** Deliveries handed to the queue since start. */
  readonly moved: number;
  /** Stops after the current batch (at once while Redis is away). Idempotent. */
  close(): Promise<void>;
}

export const PUMP_GROUP = 'pump';

type Entries = ([id: string, fields: string[]] | null)[];

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * Hands stored callbacks from the ingest stream (where the gateway appended them atomically
 * with their storage) to the delivery queue, in batches: each batch of entries gets its
 * delivery hashes and one job that owns their first attempts (`b-<first entry id>`), then the
 * entries are acknowledged and deleted. At-least-once and idempotent: an entry read again
 * (this pump died between the steps) keeps the owner it got the first time, and that job is
 * added again (a no-op when it exists). Entries left by a crashed consumer are taken over after
 * `claimIdleMs`; a stream or group lost with a non-persistent Redis is created again (no
 * NOGROUP wedge). Records `callback.received` for each new callback, with its receipt time.
 */
export function startIngestPump(options: IngestPumpOptions): IngestPump {
  const { redis, keys, queue, logger, batches, audit } = options;
  const consumer = options.consumer ?? `${hostname()}-${process.pid}`;
  const claimIdleMs = options.claimIdleMs ?? 30_000;
  const jobSize = options.jobSize ?? 50;
  const batchSize = options.batchSize ?? jobSize * 4;
  const lingerMs = options.lingerMs ?? 5;
  const actor = { kind: 'parser' as const, id: options.callbackSource ?? 'llamaparse' };
  let running = true;
  let moved = 0;
  let lastClaim = 0;
  // Whether the connection failed since it was last ready: Redis is away (not merely still
  // connecting at start-up).
  let away = false;
  const onError = () => {
    away = true;
  };
  const onReady = () => {
    away = false;
  };
  redis.on('error', onError).on('ready', onReady);

  const ensureGroup = async () => {
    try {
      await redis.xgroup('CREATE', keys.ingest, PUMP_GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  };

  const received = (entry: IngestEntry) => {
    const h = entry.header;
    if (!h || entry.round !== 0 || h.reconciled === 1) return;
    audit.record({
      type: 'callback.received',
      actor,
      at: new Date(h.received_at),
      correlation: {
        registration_id: h.registration_id,
        callback_id: h.id,
        ...(h.job_id !== undefined && { parse_job_id: h.job_id }),
      },
      data: {
        format: h.format === 'legacy' || h.format === 'event' ? h.format : 'other',
        bytes: h.bytes,
        signature:
          h.signature === 'verified' || h.signature === 'not_configured' ? h.signature : 'absent',
        ...(h.event_type !== undefined && { event_type: h.event_type }),
        ...(h.event_id !== undefined && { event_id: h.event_id }),
      },
    });
  };

  const handOver = async (read: Entries) => {
    const ids: string[] = [];
    const entries: IngestEntry[] = [];
    for (const item of read) {
      if (!item) continue;
      const [entryId, fields] = item;
      ids.push(entryId);
      const callbackId = field(fields, 'cb');
      const registrationId = field(fields, 'reg');
      if (!callbackId || !registrationId) continue;
      const round = Number(field(fields, 'replay') ?? '0');
      const headerLine = field(fields, 'h');
      entries.push({
        entryId,
        callbackId,
        registrationId,
        round,
        header: headerLine === undefined ? undefined : parseCallbackHeader(headerLine),
      });
    }
    if (ids.length === 0) return;
    const jobs = new Map<string, JobDelivery[]>();
    for (let from = 0; from < entries.length; from += jobSize) {
      const chunk = entries.slice(from, from + jobSize);
      const jobId = jobIds.batch((chunk[0] as IngestEntry).entryId);
      const owners = await batches.materialize(chunk, jobId);
      owners.forEach((owner, i) => {
        const entry = chunk[i] as IngestEntry;
        if (owner.outcome !== 'owned') return;
        if (owner.isNew) received(entry);
        // Retry and wait jobs are the business of the job that handed the delivery on.
        if (!jobIds.isBatch(owner.jobId)) return;
        const list = jobs.get(owner.jobId) ?? [];
        list.push({
          callbackId: entry.callbackId,
          registrationId: entry.registrationId,
          round: entry.round,
          attempt: 1,
        });
        jobs.set(owner.jobId, list);
      });
    }
    if (jobs.size > 0) {
      await queue.addBulk(
        [...jobs].map(([jobId, deliveries]) => ({
          name: DELIVERY_JOB,
          data: { deliveries },
          opts: { ...DELIVERY_JOB_OPTIONS, jobId },
        })),
      );
    }
    await redis
      .multi()
      .xack(keys.ingest, PUMP_GROUP, ...ids)
      .xdel(keys.ingest, ...ids)
      .exec();
    for (const list of jobs.values()) moved += list.length;
  };

  const loop = async () => {
    let groupReady = false;
    let backoff = 100;
    let complained = false;
    while (running) {
      try {
        if (!groupReady) {
          await ensureGroup();
          groupReady = true;
          // What this consumer read before a restart and never handed over.
          const mine = (await redis.xreadgroup(
            'GROUP',
            PUMP_GROUP,
            consumer,
            'COUNT',
            batchSize,
            'STREAMS',
            keys.ingest,
            '0',
          )) as [string, Entries][] | null;
          await handOver(mine?.[0]?.[1] ?? []);
        }
        if (Date.now() - lastClaim > claimIdleMs) {
          lastClaim = Date.now();
          const claimed = (await redis.xautoclaim(
            keys.ingest,
            PUMP_GROUP,
            consumer,
            claimIdleMs,
            '0-0',
            'COUNT',
            batchSize,
          )) as [string, Entries];
          await handOver(claimed?.[1] ?? []);
        }
        const readNew = async (count: number, blockMs?: number) =>
          ((
            (await redis.xreadgroup(
              'GROUP',
              PUMP_GROUP,
              consumer,
              'COUNT',
              count,
              ...((blockMs === undefined ? [] : ['BLOCK', blockMs]) as ['BLOCK', number]),
              'STREAMS',
              keys.ingest,
              '>',
            )) as [string, Entries][] | null
          )?.[0]?.[1] ?? []) as Entries;
        const read = await readNew(batchSize, 1_000);
        // A short batch at a steady trickle: linger a moment for the next ones, so a job
        // carries several deliveries (each job costs queue round trips) rather than one.
        if (read.length > 0 && read.length < jobSize && lingerMs > 0) {
          await new Promise((resolve) => setTimeout(resolve, lingerMs));
          read.push(...(await readNew(batchSize - read.length)));
        }
        await handOver(read);
        backoff = 100;
        if (complained) {
          logger.info('ingest pump: handing callbacks to the delivery queue again');
          complained = false;
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        // Start over: the group again if it was lost (NOGROUP), and in any case the entries
        // this consumer read but did not hand over, at once rather than after `claimIdleMs`.
        groupReady = false;
        if (!running) break;
        if (!complained) {
          complained = true;
          logger.warn(
            { reason: message },
            `ingest pump: cannot move callbacks to the delivery queue (${message}); retrying with backoff`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(5_000, backoff * 2);
      }
    }
  };

  const done = loop();
  let closing: Promise<void> | undefined;
  return {
    get moved() {
      return moved;
    },
    close() {
      closing ??= (async () => {
        running = false;
        redis.off('error', onError).off('ready', onReady);
        // Redis away: the loop waits on a command queued offline, with nothing in flight.
        // The connection's owner closes it next, which ends the loop; waiting here would only
        // hold the shutdown until its deadline.
        if (away && redis.status !== 'ready') return;
        await done;
      })();
      return closing;
    },
  };
}
