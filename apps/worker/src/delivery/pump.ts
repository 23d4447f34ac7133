import { hostname } from 'node:os';
import type { Actor, AuditLog, Logger } from '@callback-gateway/audit';
import {
  parseCallbackHeader,
  type DeliveryBatches,
  type IngestEntry,
  type JobDelivery,
  type StoreKeys,
} from '@callback-gateway/store';
import type { Queue } from 'bullmq';
import type { RedisClient } from '@callback-gateway/runtime';
import { addBatches, jobIds, type DeliveryJobData } from './jobs.js';

/** Options for {@link startIngestPump}. */
export interface IngestPumpOptions {
  /** A connection of its own: the pump blocks on it (`XREADGROUP BLOCK`). Owned by the caller. */
  redis: RedisClient;
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

/** Stream entries as `XREADGROUP` and `XAUTOCLAIM` return them (null: deleted meanwhile). */
type Entries = ([id: string, fields: string[]] | null)[];

/** The pump's settings and connections, resolved once. */
interface Pump {
  redis: RedisClient;
  keys: StoreKeys;
  batches: DeliveryBatches;
  queue: Queue<DeliveryJobData>;
  audit: AuditLog;
  actor: Actor;
  consumer: string;
  jobSize: number;
  batchSize: number;
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
  const jobSize = options.jobSize ?? 50;
  const pump: Pump = {
    redis: options.redis,
    keys: options.keys,
    batches: options.batches,
    queue: options.queue,
    audit: options.audit,
    actor: { kind: 'parser', id: options.callbackSource ?? 'llamaparse' },
    consumer: options.consumer ?? `${hostname()}-${process.pid}`,
    jobSize,
    batchSize: options.batchSize ?? jobSize * 4,
  };
  const claimIdleMs = options.claimIdleMs ?? 30_000;
  const lingerMs = options.lingerMs ?? 5;
  const { logger } = options;
  let running = true;
  let moved = 0;
  // Whether the connection failed since it was last ready: Redis is away (not merely still
  // connecting at start-up).
  let away = false;
  const onError = () => {
    away = true;
  };
  const onReady = () => {
    away = false;
  };
  pump.redis.on('error', onError).on('ready', onReady);

  const loop = async () => {
    let groupReady = false;
    let lastClaim = 0;
    let backoff = 100;
    let complained = false;
    while (running) {
      try {
        if (!groupReady) {
          await ensureGroup(pump);
          groupReady = true;
          moved += await handOver(pump, await readOwnPending(pump));
        }
        if (Date.now() - lastClaim > claimIdleMs) {
          lastClaim = Date.now();
          moved += await handOver(pump, await claimAbandoned(pump, claimIdleMs));
        }
        moved += await handOver(pump, await readNew(pump, lingerMs));
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
        pump.redis.off('error', onError).off('ready', onReady);
        // Redis away: the loop waits on a command queued offline, with nothing in flight.
        // The connection's owner closes it next, which ends the loop; waiting here would only
        // hold the shutdown until its deadline.
        if (away && pump.redis.status !== 'ready') return;
        await done;
      })();
      return closing;
    },
  };
}

/** The consumer group, and the stream with it (both are lost when Redis restarts empty). */
async function ensureGroup({ redis, keys }: Pump): Promise<void> {
  try {
    await redis.xgroup('CREATE', keys.ingest, PUMP_GROUP, '0', 'MKSTREAM');
  } catch (error) {
    if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
  }
}

/** Read: what this consumer read before (a restart, a failed hand-over) and never handed over. */
async function readOwnPending({ redis, keys, consumer, batchSize }: Pump): Promise<Entries> {
  const read = (await redis.xreadgroup(
    'GROUP',
    PUMP_GROUP,
    consumer,
    'COUNT',
    batchSize,
    'STREAMS',
    keys.ingest,
    '0',
  )) as [string, Entries][] | null;
  return read?.[0]?.[1] ?? [];
}

/** Read: what a dead consumer read and never handed over, once idle for `idleMs`. */
async function claimAbandoned(pump: Pump, idleMs: number): Promise<Entries> {
  const claimed = (await pump.redis.xautoclaim(
    pump.keys.ingest,
    PUMP_GROUP,
    pump.consumer,
    idleMs,
    '0-0',
    'COUNT',
    pump.batchSize,
  )) as [string, Entries];
  return claimed?.[1] ?? [];
}

/**
 * Read: new entries, blocking up to a second for the first. A short batch at a steady trickle
 * lingers a moment for the next ones, so a job carries several deliveries (each job costs
 * queue round trips) rather than one.
 */
async function readNew(pump: Pump, lingerMs: number): Promise<Entries> {
  const read = await readNewOnce(pump, pump.batchSize, 1_000);
  if (read.length > 0 && read.length < pump.jobSize && lingerMs > 0) {
    await new Promise((resolve) => setTimeout(resolve, lingerMs));
    read.push(...(await readNewOnce(pump, pump.batchSize - read.length)));
  }
  return read;
}

async function readNewOnce(
  { redis, keys, consumer }: Pump,
  count: number,
  blockMs?: number,
): Promise<Entries> {
  const block = (blockMs === undefined ? [] : ['BLOCK', blockMs]) as ['BLOCK', number];
  const read = (await redis.xreadgroup(
    'GROUP',
    PUMP_GROUP,
    consumer,
    'COUNT',
    count,
    ...block,
    'STREAMS',
    keys.ingest,
    '>',
  )) as [string, Entries][] | null;
  return read?.[0]?.[1] ?? [];
}

/**
 * Hands entries over: parse them, give their deliveries an owner job, add those jobs, then
 * acknowledge and delete the entries. Returns the deliveries handed to new batch jobs.
 */
async function handOver(pump: Pump, read: Entries): Promise<number> {
  const { ids, entries } = parseEntries(read);
  if (ids.length === 0) return 0;
  const { jobs, checks } = await assignOwners(pump, entries);
  await addBatches(pump.queue, jobs);
  await acknowledgeConfirmed(pump, ids, checks);
  let moved = 0;
  for (const list of jobs.values()) moved += list.length;
  return moved;
}

/**
 * KEYS: the ingest stream, then per entry the delivery hash and the job key it needs (the stream
 * itself where there is nothing to check). ARGV: the group, then per entry its id. Acknowledges
 * and deletes the entries whose delivery record and owning job are on this Redis (all at once
 * when nothing is missing: one EXISTS, one XACK, one XDEL); returns how many were not.
 */
const ACK_CONFIRMED_SCRIPT = `
local ids, check, seen = {}, {}, {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
for i = 2, #KEYS do
  local key = KEYS[i]
  if key ~= KEYS[1] and not seen[key] then
    seen[key] = true
    check[#check + 1] = key
  end
end
if #check == 0 or redis.call('EXISTS', unpack(check)) == #check then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
  redis.call('XDEL', KEYS[1], unpack(ids))
  return 0
end
-- Something is missing: entry by entry (entry j's keys are KEYS[2j] and KEYS[2j + 1]).
local missing = 0
for j = 1, #ids do
  local dl, job = KEYS[2 * j], KEYS[2 * j + 1]
  if (dl ~= KEYS[1] and redis.call('EXISTS', dl) == 0)
      or (job ~= KEYS[1] and redis.call('EXISTS', job) == 0) then
    missing = missing + 1
  else
    redis.call('XACK', KEYS[1], ARGV[1], ids[j])
    redis.call('XDEL', KEYS[1], ids[j])
  end
end
return missing
`;

type AckRedis = RedisClient & {
  cbgwAckConfirmed(...args: string[]): Promise<number>;
};

/** Entries a hand-over could not confirm on the Redis it acknowledges on (a failover). */
export class HandOverNotConfirmedError extends Error {
  constructor(readonly missing: number) {
    super(
      `${missing} callbacks handed to the delivery queue are not on the current Redis primary (a failover lost them): handing them over again`,
    );
    this.name = 'HandOverNotConfirmedError';
  }
}

/**
 * Acknowledges (and deletes) the entries handed over, each only if its delivery record and the
 * job that owns it are on the Redis that takes the acknowledgement, in one script. The steps of
 * a hand-over run on different connections; in a failover the record and the job can land on
 * the old primary (and be lost with it) while the acknowledgement lands on the new one, which
 * would lose the callback's delivery. Checked where it is acknowledged, an entry whose effects
 * are missing stays pending and is handed over again (the error makes the pump start over).
 */
async function acknowledgeConfirmed(
  pump: Pump,
  ids: readonly string[],
  checks: ReadonlyMap<string, { dl: string; job: string }>,
): Promise<void> {
  const redis = pump.redis as AckRedis;
  if (typeof redis.cbgwAckConfirmed !== 'function') {
    redis.defineCommand('cbgwAckConfirmed', { lua: ACK_CONFIRMED_SCRIPT });
  }
  // Every key the script reads is declared (a proxy or a cluster routes by them).
  const stream = pump.keys.ingest;
  const keys = [stream];
  for (const id of ids) {
    const check = checks.get(id);
    keys.push(check?.dl || stream, check?.job || stream);
  }
  const missing = await redis.cbgwAckConfirmed(String(keys.length), ...keys, PUMP_GROUP, ...ids);
  if (missing > 0) throw new HandOverNotConfirmedError(missing);
}

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Every entry id (to acknowledge), and the entries that name a delivery. */
function parseEntries(read: Entries): { ids: string[]; entries: IngestEntry[] } {
  const ids: string[] = [];
  const entries: IngestEntry[] = [];
  for (const item of read) {
    if (!item) continue;
    const [entryId, fields] = item;
    ids.push(entryId);
    const callbackId = field(fields, 'cb');
    const registrationId = field(fields, 'reg');
    if (!callbackId || !registrationId) continue;
    const headerLine = field(fields, 'h');
    entries.push({
      entryId,
      callbackId,
      registrationId,
      replay: Number(field(fields, 'replay') ?? '0'),
      header: headerLine === undefined ? undefined : parseCallbackHeader(headerLine),
    });
  }
  return { ids, entries };
}

/**
 * Gives each entry's delivery its hash and owner job (`jobSize` deliveries a batch job), and
 * records `callback.received` for the new ones. Returns the batch jobs to add, with their
 * deliveries; a retry or wait job that already owns a delivery is the business of the job
 * that handed it on.
 */
async function assignOwners(
  pump: Pump,
  entries: readonly IngestEntry[],
): Promise<{
  jobs: Map<string, JobDelivery[]>;
  /** Per entry id: the delivery record and job key its acknowledgement needs. */
  checks: Map<string, { dl: string; job: string }>;
}> {
  const jobs = new Map<string, JobDelivery[]>();
  const checks = new Map<string, { dl: string; job: string }>();
  for (let from = 0; from < entries.length; from += pump.jobSize) {
    const chunk = entries.slice(from, from + pump.jobSize);
    const jobId = jobIds.batch((chunk[0] as IngestEntry).entryId);
    // Written by the script that creates the delivery, in the same call.
    const received = chunk.map((entry) => prepareReceived(pump, entry));
    const owners = await pump.batches.materialize(
      chunk.map((entry, i) => {
        const event = received[i];
        return event ? { ...entry, auditRecord: JSON.stringify(event) } : entry;
      }),
      jobId,
    );
    owners.forEach((owner, i) => {
      const entry = chunk[i] as IngestEntry;
      if (owner.outcome !== 'owned') return;
      const dl = pump.keys.delivery(entry.callbackId);
      // A follow-up job (retry, wait) is the business of the job that handed it on.
      checks.set(entry.entryId, {
        dl,
        job: jobIds.isBatch(owner.jobId) ? pump.queue.toKey(owner.jobId) : '',
      });
      const event = received[i];
      if (owner.isNew && event) pump.audit.publish(event);
      if (!jobIds.isBatch(owner.jobId)) return;
      const list = jobs.get(owner.jobId) ?? [];
      list.push({
        callbackId: entry.callbackId,
        registrationId: entry.registrationId,
        replay: entry.replay,
        attempt: 1,
      });
      jobs.set(owner.jobId, list);
    });
  }
  return { jobs, checks };
}

/** The audit record of a callback's receipt (at the time the gateway stored it), for the first
 * delivery only: not replays, and not results the reconciler recovered (it records those
 * itself). The script that creates the delivery writes it. */
function prepareReceived({ audit, actor }: Pump, entry: IngestEntry) {
  const h = entry.header;
  if (!h || entry.replay !== 0 || h.reconciled === 1) return undefined;
  return audit.prepare({
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
}
