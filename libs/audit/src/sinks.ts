import type { Redis, Cluster } from 'ioredis';
import { AuditPartialWriteError, type AuditSink } from './audit-log.js';
import { auditEventSchema, type AuditEvent, type AuditEventType } from './events.js';
import type { Logger } from './logger.js';

/** A sink writing each event as one structured JSON log line (`{"audit": {...}}`). */
export function logAuditSink(logger: Logger): AuditSink {
  return {
    name: 'log',
    write(events) {
      for (const event of events) logger.info({ audit: event }, `audit ${event.type}`);
    },
  };
}

/** Options for {@link createRedisAuditStore}. */
export interface RedisAuditStoreOptions {
  /** A borrowed connection (left open by the store). Use one with `enableOfflineQueue: false`
   * so writes fail fast while Redis is away instead of piling up in memory. */
  redis: Redis | Cluster;
  /**
   * Key prefix. Keys: `<prefix>:events` (all events) and `<prefix>:reg:<registration id>`.
   * @defaultValue `'{cbgw}:audit'` (the store's hash tag: one Redis Cluster slot, so one script
   * writes an event to both streams)
   */
  prefix?: string;
  /**
   * The store's partitions (each its own hash tag, so its own Redis Cluster slot): a
   * registration's events go to its partition's streams (`<prefixOf(id)>:events` and
   * `<prefixOf(id)>:reg:<id>`), events naming none to `prefix`'s; queries without a
   * registration read every partition's main stream. Absent: everything under `prefix`.
   */
  partitions?: {
    prefixOf(registrationId: string): string;
    readonly prefixes: readonly string[];
  };
  /**
   * Approximate cap of the main stream (`XADD MAXLEN ~`), per partition.
   * @defaultValue 100_000
   */
  maxLength?: number;
  /**
   * `approximate` trims with `MAXLEN ~` (cheap; the stream may exceed the cap by up to one
   * radix-tree node, about 100 entries); `exact` trims with `MAXLEN =`.
   * @defaultValue `'approximate'`
   */
  trim?: 'approximate' | 'exact';
  /**
   * Cap of each registration's own stream.
   * @defaultValue 1_000
   */
  perRegistrationMaxLength?: number;
  /**
   * Seconds a registration's stream is kept after its last event.
   * @defaultValue 2_592_000 (30 days)
   */
  perRegistrationTtlSeconds?: number;
  /**
   * How far an event's write time may be from its `at` (a sink retrying through an outage,
   * clock skew between processes) and still be found by a time-range query.
   * @defaultValue 900_000 (15 minutes)
   */
  lateWriteToleranceMs?: number;
}

/** A filter for {@link RedisAuditStore.query}. All fields are optional and combine with AND. */
export interface AuditQuery {
  registrationId?: string;
  types?: readonly AuditEventType[];
  /** Inclusive. */
  from?: Date;
  /** Inclusive. */
  to?: Date;
  /** @defaultValue 100 (at most 1000) */
  limit?: number;
  /** `asc` (oldest first) or `desc`. @defaultValue `'asc'` */
  order?: 'asc' | 'desc';
}

/** The durable audit trail in Redis Streams: a sink to write, and a query to read back. */
export interface RedisAuditStore {
  readonly sink: AuditSink;
  query(filter?: AuditQuery): Promise<AuditEvent[]>;
}

const PAGE = 500;
const MAX_SCANNED = 50_000;

function decode(fields: string[]): AuditEvent | undefined {
  const index = fields.indexOf('e');
  const raw = index >= 0 ? fields[index + 1] : undefined;
  if (raw === undefined) return undefined;
  try {
    const parsed = auditEventSchema.safeParse(JSON.parse(raw));
    return parsed.success ? (parsed.data as AuditEvent) : undefined;
  } catch {
    return undefined;
  }
}

function streamMs(id: string): number {
  return Number(id.split('-')[0]);
}

/**
 * KEYS: main stream, registration stream prefix. ARGV: trim, caps, ttl, then the batch as one
 * string: a line per event, `<registration id or nothing>\t<event JSON>` (JSON text holds no
 * raw tab or newline), so a batch costs the client one argument to encode.
 */
const APPEND_SCRIPT = `
local touched = {}
local batch, pos = ARGV[5], 1
while pos <= #batch do
  local tab = string.find(batch, '\\t', pos, true)
  local stop = string.find(batch, '\\n', tab, true) or (#batch + 1)
  local registration, json = string.sub(batch, pos, tab - 1), string.sub(batch, tab + 1, stop - 1)
  pos = stop + 1
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], ARGV[2], '*', 'e', json)
  if registration ~= '' then
    local key = KEYS[2] .. registration
    redis.call('XADD', key, 'MAXLEN', ARGV[1], ARGV[3], '*', 'e', json)
    touched[key] = true
  end
end
for key in pairs(touched) do redis.call('EXPIRE', key, tonumber(ARGV[4])) end
return 1
`;

type AuditRedis = (Redis | Cluster) & {
  cbgwAuditAppend(...args: (string | number)[]): Promise<number>;
};

/**
 * Creates the Redis Streams audit store. Each event is written (one pipeline per batch) to a
 * capped main stream and, when it names a registration, to that registration's own capped,
 * expiring stream, so "everything about registration X" is one short read.
 */
export function createRedisAuditStore(options: RedisAuditStoreOptions): RedisAuditStore {
  const redis = options.redis;
  const prefix = options.prefix ?? '{cbgw}:audit';
  const maxLength = options.maxLength ?? 100_000;
  const perRegistrationMaxLength = options.perRegistrationMaxLength ?? 1_000;
  const ttl = options.perRegistrationTtlSeconds ?? 2_592_000;
  const tolerance = options.lateWriteToleranceMs ?? 900_000;
  const trim = options.trim === 'exact' ? '=' : '~';
  const prefixOf = (registrationId: string | undefined) =>
    registrationId && options.partitions ? options.partitions.prefixOf(registrationId) : prefix;
  const mainKeys = (options.partitions?.prefixes ?? [prefix]).map((each) => `${each}:events`);
  if (typeof (redis as AuditRedis).cbgwAuditAppend !== 'function') {
    redis.defineCommand('cbgwAuditAppend', { numberOfKeys: 2, lua: APPEND_SCRIPT });
  }
  const registrationKey = (id: string) => `${prefixOf(id)}:reg:${id}`;

  const sink: AuditSink = {
    name: 'redis',
    store: true,
    async write(events) {
      // One script call per batch and partition (not three commands per event): the audit
      // trail must stay cheap at callback rates.
      const batches = new Map<string, { text: string; events: AuditEvent[] }>();
      for (const event of events) {
        const registration = event.correlation.registration_id ?? '';
        // An id that could break the framing is not used as a key (the event still goes to
        // the main stream).
        const key = /[\t\n]/.test(registration) ? '' : registration;
        const target = prefixOf(key);
        const batch = batches.get(target);
        const line = `${key}\t${JSON.stringify(event)}`;
        if (batch) {
          batch.text += `\n${line}`;
          batch.events.push(event);
        } else {
          batches.set(target, { text: line, events: [event] });
        }
      }
      const written = await Promise.allSettled(
        [...batches].map(([target, batch]) =>
          (redis as AuditRedis).cbgwAuditAppend(
            `${target}:events`,
            `${target}:reg:`,
            trim,
            maxLength,
            perRegistrationMaxLength,
            ttl,
            batch.text,
          ),
        ),
      );
      // Each partition's batch is one script call: only the calls that failed are retried (the
      // others would be written twice). A call that failed halfway (Redis ran out of memory
      // after its first entries) has its first entries written again.
      const batchList = [...batches.values()];
      const failed = written.flatMap((result, i) =>
        result.status === 'rejected' ? [{ reason: result.reason as unknown, i }] : [],
      );
      if (failed.length === 0) return;
      if (failed.length === written.length) throw failed[0]?.reason;
      throw new AuditPartialWriteError(
        failed.flatMap(({ i }) => batchList[i]?.events ?? []),
        failed[0]?.reason,
      );
    },
  };

  const matches = (event: AuditEvent, filter: AuditQuery): boolean => {
    if (filter.types && !filter.types.includes(event.type)) return false;
    const at = Date.parse(event.at);
    if (filter.from && at < filter.from.getTime()) return false;
    if (filter.to && at > filter.to.getTime()) return false;
    if (filter.registrationId && event.correlation.registration_id !== filter.registrationId) {
      return false;
    }
    return true;
  };

  const query = async (filter: AuditQuery = {}): Promise<AuditEvent[]> => {
    const limit = Math.max(1, Math.min(filter.limit ?? 100, 1_000));
    const desc = filter.order === 'desc';
    if (filter.registrationId) {
      return queryStream(registrationKey(filter.registrationId), filter, limit, desc);
    }
    // Every partition's main stream, merged in time order.
    const found = (
      await Promise.all(mainKeys.map((key) => queryStream(key, filter, limit, desc)))
    ).flat();
    if (!desc) found.sort((a, b) => a.at.localeCompare(b.at));
    else found.sort((a, b) => b.at.localeCompare(a.at));
    return found.slice(0, limit);
  };

  const queryStream = async (
    key: string,
    filter: AuditQuery,
    limit: number,
    desc: boolean,
  ): Promise<AuditEvent[]> => {
    // Stream ids are write times: an event is written shortly after its `at`, or up to
    // `tolerance` later when a sink retried through an outage (or earlier by clock skew).
    const low = filter.from ? String(Math.max(0, filter.from.getTime() - tolerance)) : '-';
    const high = filter.to ? String(filter.to.getTime() + tolerance) : '+';
    const found: AuditEvent[] = [];
    let cursorLow = low;
    let cursorHigh = high;
    let scanned = 0;
    while (found.length < limit && scanned < MAX_SCANNED) {
      const page = desc
        ? await redis.xrevrange(key, cursorHigh, cursorLow, 'COUNT', PAGE)
        : await redis.xrange(key, cursorLow, cursorHigh, 'COUNT', PAGE);
      for (const [, fields] of page) {
        const event = decode(fields);
        if (event && matches(event, filter)) {
          found.push(event);
          if (found.length >= limit) break;
        }
      }
      scanned += page.length;
      if (page.length < PAGE) break;
      const lastId = page[page.length - 1]?.[0];
      if (lastId === undefined) break;
      if (desc) {
        cursorHigh = `(${lastId}`;
        if (filter.from && streamMs(lastId) < filter.from.getTime() - tolerance) break;
      } else {
        cursorLow = `(${lastId}`;
      }
    }
    if (!desc) found.sort((a, b) => a.at.localeCompare(b.at));
    else found.sort((a, b) => b.at.localeCompare(a.at));
    return found;
  };

  return { sink, query };
}
