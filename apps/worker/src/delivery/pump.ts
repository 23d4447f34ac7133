import { hostname } from 'node:os';
import type { Logger } from '@callback-gateway/audit';
import type { StoreKeys } from '@callback-gateway/store';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/** What a delivery job carries: ids only; the callback itself stays in its hash. */
export interface DeliveryJobData {
  callbackId: string;
  registrationId: string;
  /** 0 for the first round, n for the n-th replay. */
  replay: number;
}

/** Options for {@link startIngestPump}. */
export interface IngestPumpOptions {
  /** A connection of its own: the pump blocks on it (`XREADGROUP BLOCK`). Owned by the caller. */
  redis: Redis;
  keys: StoreKeys;
  queue: Queue<DeliveryJobData>;
  logger: Logger;
  /** Max attempts of a delivery job (the retry schedule's length). */
  attempts: number;
  /** @defaultValue `<host>-<pid>` */
  consumer?: string;
  /** Entries another consumer read but did not hand over for this long are taken over. @defaultValue 30_000 */
  claimIdleMs?: number;
  /** @defaultValue 500 */
  batchSize?: number;
}

/** A running pump. */
export interface IngestPump {
  /** Entries handed to the queue since start. */
  readonly moved: number;
  /** Stops after the current batch. Idempotent. */
  close(): Promise<void>;
}

export const PUMP_GROUP = 'pump';

type Entries = [id: string, fields: string[]][];

function field(fields: string[], name: string): string | undefined {
  const index = fields.indexOf(name);
  return index >= 0 && index % 2 === 0 ? fields[index + 1] : undefined;
}

/**
 * Moves stored callbacks from the ingest stream (where the gateway appended them atomically
 * with their storage) into the BullMQ delivery queue. At-least-once and idempotent: an entry is
 * acknowledged and deleted only after the queue accepted its job, and the job id is the
 * callback id (or `<callback id>-r<n>` for the n-th replay), so a re-read entry never makes a
 * second job. Entries left by a crashed consumer are taken over after `claimIdleMs`; a stream
 * or group lost with a non-persistent Redis is created again (no NOGROUP wedge).
 */
export function startIngestPump(options: IngestPumpOptions): IngestPump {
  const { redis, keys, queue, logger } = options;
  const consumer = options.consumer ?? `${hostname()}-${process.pid}`;
  const claimIdleMs = options.claimIdleMs ?? 30_000;
  const batchSize = options.batchSize ?? 500;
  let running = true;
  let moved = 0;
  let lastClaim = 0;

  const ensureGroup = async () => {
    try {
      await redis.xgroup('CREATE', keys.ingest, PUMP_GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  };

  const handOver = async (entries: Entries) => {
    if (entries.length === 0) return;
    const jobs = entries.flatMap(([, fields]) => {
      const callbackId = field(fields, 'cb');
      const registrationId = field(fields, 'reg');
      if (!callbackId || !registrationId) return [];
      const replay = Number(field(fields, 'replay') ?? '0');
      return [
        {
          name: 'deliver',
          data: { callbackId, registrationId, replay },
          opts: {
            jobId: replay > 0 ? `${callbackId}-r${replay}` : callbackId,
            attempts: options.attempts,
            backoff: { type: 'schedule' },
            removeOnComplete: { age: 86_400, count: 10_000 },
            removeOnFail: { age: 14 * 86_400 },
          },
        },
      ];
    });
    if (jobs.length > 0) await queue.addBulk(jobs);
    const ids = entries.map(([id]) => id);
    await redis
      .multi()
      .xack(keys.ingest, PUMP_GROUP, ...ids)
      .xdel(keys.ingest, ...ids)
      .exec();
    moved += jobs.length;
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
          await handOver((claimed?.[1] ?? []).filter((entry) => entry !== null));
        }
        const read = (await redis.xreadgroup(
          'GROUP',
          PUMP_GROUP,
          consumer,
          'COUNT',
          batchSize,
          'BLOCK',
          1_000,
          'STREAMS',
          keys.ingest,
          '>',
        )) as [string, Entries][] | null;
        await handOver(read?.[0]?.[1] ?? []);
        backoff = 100;
        if (complained) {
          logger.info('ingest pump: handing callbacks to the delivery queue again');
          complained = false;
        }
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (message.includes('NOGROUP')) groupReady = false;
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
        await done;
      })();
      return closing;
    },
  };
}
