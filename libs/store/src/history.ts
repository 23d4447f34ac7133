import type { Cluster, Redis } from 'ioredis';
import type { StoreKeys } from './keys.js';

/** One minute in ms: the history's bucket. */
export const HISTORY_BUCKET_MS = 60_000;
/** Ten minutes: the coarse buckets the 24-hour charts read (145 keys rather than 1,441). */
export const HISTORY_COARSE_BUCKET_MS = 600_000;
/** How long a minute's bucket is kept: 24 hours of charts, and an hour's slack. */
export const HISTORY_RETENTION_MS = 25 * 60 * 60_000;
/** How long a minute's per-destination counts are kept (the 15-minute success rate). */
export const DESTINATION_WINDOW_MS = 15 * 60_000;
/** How long a destination's last error and last success are kept after its last attempt. */
export const DESTINATION_LAST_SEEN_MS = 7 * 24 * 60 * 60_000;

/**
 * Upper edges (ms) of the delivery latency histogram kept per minute (one field each, plus one
 * for slower attempts): p50 and p99 are read from it as the edge of the bucket they fall in.
 */
export const LATENCY_EDGES_MS = [10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000];

/** Counters of a minute's bucket. */
export const HISTORY_COUNTERS = [
  'received',
  'duplicate',
  'registered',
  'delivered',
  'retried',
  'dead_lettered',
  'attempt_ok',
  'attempt_failed',
] as const;
export type HistoryCounter = (typeof HISTORY_COUNTERS)[number];

/**
 * How logs, metrics, audit, the history and the dashboard name a destination (a `deliver_to`
 * URL, the unit its breaker guards): its origin and path, without the query (where tokens go).
 */
export function destinationLabel(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`.slice(0, 300);
}

/** The minute (its start, ms) a time falls in, or the bucket of `spanMs`. */
export const minuteOf = (ms: number, spanMs = HISTORY_BUCKET_MS) =>
  Math.floor(ms / spanMs) * spanMs;

/** Keeps the larger of a bucket's `oldest_waiting_s` and ARGV[1]; KEYS[1] the bucket. */
const MAX_SCRIPT = `
local old = tonumber(redis.call('HGET', KEYS[1], 'oldest_waiting_s') or '-1')
if tonumber(ARGV[1]) > old then redis.call('HSET', KEYS[1], 'oldest_waiting_s', ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * Removes the destinations whose last success and last error are both older than ARGV[1] (ms)
 * from the last-seen hash (KEYS[1]; fields `<destination>\tok_at`, `\terror_at`, `\terror`).
 * The hash's own TTL is renewed by every flush, so without this a destination seen once would
 * stay as long as any other is active. Returns how many destinations were removed.
 */
const PRUNE_LAST_SEEN_SCRIPT = `
local newest, cursor = {}, '0'
repeat
  local page = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', 1000)
  cursor = page[1]
  local fields = page[2]
  for i = 1, #fields, 2 do
    local tab = string.find(fields[i], '\t', 1, true)
    if tab then
      local destination, kind = string.sub(fields[i], 1, tab - 1), string.sub(fields[i], tab + 1)
      local at = (kind == 'ok_at' or kind == 'error_at') and tonumber(fields[i + 1]) or 0
      if newest[destination] == nil or at > newest[destination] then newest[destination] = at end
    end
  end
until cursor == '0'
local removed = 0
for destination, at in pairs(newest) do
  if at < tonumber(ARGV[1]) then
    redis.call('HDEL', KEYS[1], destination .. '\tok_at', destination .. '\terror_at',
      destination .. '\terror')
    removed = removed + 1
  end
end
return removed
`;

type HistoryRedis = (Redis | Cluster) & {
  cbgwHistoryMax(key: string, value: string, ttl: string): Promise<number>;
};
/** A pipeline of a connection the prune script is defined on. */
type PrunePipeline = ReturnType<HistoryRedis['pipeline']> & {
  cbgwPruneLastSeen(key: string, oldest: string): unknown;
};

/** Options of {@link createHistoryRecorder}. */
export interface HistoryRecorderOptions {
  /** Borrowed (fail-fast) connection: history is best-effort, a lost flush is a lost minute. */
  redis: Redis | Cluster;
  keys: StoreKeys;
  /** How often counts gathered in memory go to Redis, in one pipeline. @defaultValue 1_000 */
  flushMs?: number;
  /** @defaultValue `Date.now` */
  now?: () => number;
  /**
   * How often (at most) a flush also drops the destinations not seen for
   * {@link DESTINATION_LAST_SEEN_MS} from the last-seen hash. @defaultValue 600_000
   */
  pruneEveryMs?: number;
}

/**
 * Counts what happens, per minute, in Redis (`{cbgw}:hist:<minute>` hashes that expire after
 * 25 h): every gateway and worker adds to the same buckets, so every replica charts the same
 * history and it survives restarts. Counts gather in memory and go out as one pipeline of
 * `HINCRBY`s a second: nothing is added to a callback's or an attempt's own round trips.
 */
export interface HistoryRecorder {
  count(counter: HistoryCounter, by?: number): void;
  /** A callback refused, by the error code it was answered with. */
  rejected(reason: string): void;
  /** One delivery attempt to a destination (its label), its latency, and its error if any. */
  attempt(destination: string, latencyMs: number, error: string | undefined): void;
  /** The age of the oldest delivery waiting now (the minute keeps the largest sample). */
  oldestWaiting(seconds: number): Promise<void>;
  /** Writes what was gathered (also done every `flushMs`). */
  flush(): Promise<void>;
  /** Flushes and stops the timer. Idempotent. */
  close(): Promise<void>;
}

/** The field of a latency's histogram bucket: `lat:<index>` (the last one: slower than all). */
export function latencyField(latencyMs: number): string {
  const index = LATENCY_EDGES_MS.findIndex((edge) => latencyMs <= edge);
  return `lat:${index === -1 ? LATENCY_EDGES_MS.length : index}`;
}

export function createHistoryRecorder(options: HistoryRecorderOptions): HistoryRecorder {
  const { keys } = options;
  const now = options.now ?? Date.now;
  const redis = options.redis as HistoryRedis;
  if (typeof redis.cbgwHistoryMax !== 'function') {
    redis.defineCommand('cbgwHistoryMax', { numberOfKeys: 1, lua: MAX_SCRIPT });
  }
  if (!('cbgwPruneLastSeen' in redis)) {
    redis.defineCommand('cbgwPruneLastSeen', { numberOfKeys: 1, lua: PRUNE_LAST_SEEN_SCRIPT });
  }
  const pruneEveryMs = options.pruneEveryMs ?? 600_000;
  let prunedAt = now();
  /** key -> field -> increment */
  let pending = new Map<string, { ttlMs: number; fields: Map<string, number> }>();
  /** destination -> its last outcome in this period */
  let last = new Map<string, { okAt?: number; errorAt?: number; error?: string }>();
  const add = (key: string, field: string, by: number, ttlMs = HISTORY_RETENTION_MS) => {
    let entry = pending.get(key);
    if (!entry) pending.set(key, (entry = { ttlMs, fields: new Map() }));
    entry.fields.set(field, (entry.fields.get(field) ?? 0) + by);
  };
  /** Counts go to the minute's bucket and to its ten minutes'. */
  const addBoth = (at: number, field: string, by: number) => {
    add(keys.history(minuteOf(at)), field, by);
    add(keys.history(minuteOf(at, HISTORY_COARSE_BUCKET_MS), HISTORY_COARSE_BUCKET_MS), field, by);
  };

  let flushing: Promise<void> = Promise.resolve();
  const flush = () => {
    flushing = flushing.then(async () => {
      if (pending.size === 0 && last.size === 0) return;
      const batch = pending;
      const seen = last;
      pending = new Map();
      last = new Map();
      const pipeline = redis.pipeline();
      for (const [key, { ttlMs, fields }] of batch) {
        for (const [field, by] of fields) pipeline.hincrby(key, field, by);
        pipeline.pexpire(key, ttlMs);
      }
      if (seen.size > 0) {
        const fields: string[] = [];
        for (const [destination, entry] of seen) {
          if (entry.okAt !== undefined) fields.push(`${destination}\tok_at`, String(entry.okAt));
          if (entry.errorAt !== undefined) {
            fields.push(`${destination}\terror_at`, String(entry.errorAt));
            fields.push(`${destination}\terror`, entry.error ?? '');
          }
        }
        pipeline.hset(keys.destinationsLast, ...fields);
        pipeline.pexpire(keys.destinationsLast, DESTINATION_LAST_SEEN_MS);
        const at = now();
        if (at - prunedAt >= pruneEveryMs) {
          prunedAt = at;
          (pipeline as PrunePipeline).cbgwPruneLastSeen(
            keys.destinationsLast,
            String(at - DESTINATION_LAST_SEEN_MS),
          );
        }
      }
      // Best-effort, like the charts it feeds: a minute's counts lost while Redis is away are
      // a gap in a chart, while the metrics (the reference) and the audit trail keep every event.
      await pipeline.exec().catch(() => undefined);
    });
    return flushing;
  };
  const timer = setInterval(() => void flush(), options.flushMs ?? 1_000);
  timer.unref();
  let closing: Promise<void> | undefined;

  return {
    count(counter, by = 1) {
      addBoth(now(), counter, by);
    },
    rejected(reason) {
      addBoth(now(), `rejected:${reason}`, 1);
    },
    attempt(destination, latencyMs, error) {
      const at = now();
      addBoth(at, error === undefined ? 'attempt_ok' : 'attempt_failed', 1);
      addBoth(at, latencyField(latencyMs), 1);
      add(
        keys.destinationHistory(minuteOf(at)),
        `${destination}\t${error === undefined ? 'ok' : 'failed'}`,
        1,
        DESTINATION_WINDOW_MS + HISTORY_BUCKET_MS,
      );
      const entry = last.get(destination) ?? {};
      if (error === undefined) entry.okAt = at;
      else Object.assign(entry, { errorAt: at, error: error.slice(0, 300) });
      last.set(destination, entry);
    },
    async oldestWaiting(seconds) {
      const at = now();
      await Promise.all(
        [
          keys.history(minuteOf(at)),
          keys.history(minuteOf(at, HISTORY_COARSE_BUCKET_MS), HISTORY_COARSE_BUCKET_MS),
        ].map((key) =>
          redis
            .cbgwHistoryMax(key, String(Math.round(seconds)), String(HISTORY_RETENTION_MS))
            .catch(() => undefined),
        ),
      );
    },
    flush,
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        await flush();
      })();
      return closing;
    },
  };
}

/** One minute of history, as read back. */
export interface HistoryMinute {
  /** The minute's start (ms). */
  at: number;
  counters: Record<HistoryCounter, number>;
  /** Callbacks refused in that minute, by error code. */
  rejected: Record<string, number>;
  /** Attempts per latency bucket (index into {@link LATENCY_EDGES_MS}, the last one beyond). */
  latency: number[];
  /** Largest sample of the oldest waiting delivery's age, when one was taken. */
  oldestWaitingSeconds: number | undefined;
}

/** The latency (ms) below which a share `q` of a histogram's attempts fell (the bucket's upper
 * edge; the last bucket reports its lower edge), or undefined without attempts. */
export function latencyQuantile(latency: readonly number[], q: number): number | undefined {
  const total = latency.reduce((sum, n) => sum + n, 0);
  if (total === 0) return undefined;
  let seen = 0;
  for (let i = 0; i < latency.length; i++) {
    seen += latency[i] ?? 0;
    if (seen >= q * total) return LATENCY_EDGES_MS[Math.min(i, LATENCY_EDGES_MS.length - 1)];
  }
  return LATENCY_EDGES_MS.at(-1);
}

/**
 * Reads the buckets of `[from, to]` (ms, both included) of history, oldest first, in one
 * pipeline: minutes, or ten minutes with `spanMs` {@link HISTORY_COARSE_BUCKET_MS}.
 */
export async function readHistory(
  redis: Redis | Cluster,
  keys: StoreKeys,
  from: number,
  to: number,
  spanMs = HISTORY_BUCKET_MS,
): Promise<HistoryMinute[]> {
  const minutes: number[] = [];
  for (let at = minuteOf(from, spanMs); at <= minuteOf(to, spanMs); at += spanMs) {
    minutes.push(at);
  }
  const pipeline = redis.pipeline();
  for (const at of minutes) pipeline.hgetall(keys.history(at, spanMs));
  const results = (await pipeline.exec()) ?? [];
  return minutes.map((at, i) => {
    const raw = (results[i]?.[1] ?? {}) as Record<string, string>;
    const counters = Object.fromEntries(
      HISTORY_COUNTERS.map((name) => [name, Number(raw[name] ?? 0)]),
    ) as Record<HistoryCounter, number>;
    const rejected: Record<string, number> = {};
    const latency = new Array<number>(LATENCY_EDGES_MS.length + 1).fill(0);
    for (const [field, value] of Object.entries(raw)) {
      if (field.startsWith('rejected:')) rejected[field.slice(9)] = Number(value);
      else if (field.startsWith('lat:')) latency[Number(field.slice(4))] = Number(value);
    }
    const oldest = raw['oldest_waiting_s'];
    return {
      at,
      counters,
      rejected,
      latency,
      oldestWaitingSeconds: oldest === undefined ? undefined : Number(oldest),
    };
  });
}

/** Per destination: attempts that succeeded and failed over the last {@link DESTINATION_WINDOW_MS},
 * and its last success and last error (kept {@link DESTINATION_LAST_SEEN_MS}). */
export interface DestinationActivity {
  ok: number;
  failed: number;
  lastSuccessAt: number | undefined;
  lastErrorAt: number | undefined;
  lastError: string | undefined;
}

/** Reads every destination's recent activity (the window's minutes and the last-seen hash). */
export async function readDestinationActivity(
  redis: Redis | Cluster,
  keys: StoreKeys,
  now: number,
): Promise<Map<string, DestinationActivity>> {
  const pipeline = redis.pipeline();
  const first = minuteOf(now - DESTINATION_WINDOW_MS + HISTORY_BUCKET_MS);
  let minutes = 0;
  for (let at = first; at <= minuteOf(now); at += HISTORY_BUCKET_MS, minutes++) {
    pipeline.hgetall(keys.destinationHistory(at));
  }
  pipeline.hgetall(keys.destinationsLast);
  const results = (await pipeline.exec()) ?? [];
  const out = new Map<string, DestinationActivity>();
  const entry = (destination: string) => {
    let activity = out.get(destination);
    if (!activity) {
      activity = {
        ok: 0,
        failed: 0,
        lastSuccessAt: undefined,
        lastErrorAt: undefined,
        lastError: undefined,
      };
      out.set(destination, activity);
    }
    return activity;
  };
  for (let i = 0; i < minutes; i++) {
    const raw = (results[i]?.[1] ?? {}) as Record<string, string>;
    for (const [field, value] of Object.entries(raw)) {
      const tab = field.lastIndexOf('\t');
      const activity = entry(field.slice(0, tab));
      if (field.slice(tab + 1) === 'ok') activity.ok += Number(value);
      else activity.failed += Number(value);
    }
  }
  const lastSeen = (results[minutes]?.[1] ?? {}) as Record<string, string>;
  for (const [field, value] of Object.entries(lastSeen)) {
    const tab = field.lastIndexOf('\t');
    const activity = entry(field.slice(0, tab));
    const name = field.slice(tab + 1);
    if (name === 'ok_at') activity.lastSuccessAt = Number(value);
    else if (name === 'error_at') activity.lastErrorAt = Number(value);
    else if (name === 'error') activity.lastError = value;
  }
  return out;
}

/** The delivery queue, as far as the age of its oldest waiting job goes (a BullMQ `Queue`). */
export interface WaitingJobs {
  getJobs(
    types: 'waiting'[],
    start: number,
    end: number,
    asc: boolean,
  ): Promise<({ timestamp: number } | undefined)[]>;
}

/**
 * Age (s) of the oldest callback waiting to be delivered now, over every partition: still in
 * an ingest stream, or in a job waiting (not delayed); 0 when none. The worker's
 * `cbgw_delivery_oldest_waiting_seconds` and the dashboard both read it here.
 *
 * @param queues Each partition's delivery queue, by partition.
 */
export async function oldestWaitingSeconds(
  queues: readonly WaitingJobs[],
  redis: Redis | Cluster,
  keys: StoreKeys,
  now = Date.now(),
): Promise<number> {
  const oldest = await Promise.all(
    keys.all.map(async (own, partition) => {
      const [[job], [first]] = await Promise.all([
        queues[partition]?.getJobs(['waiting'], -1, -1, true) ?? [],
        redis.xrange(own.ingest, '-', '+', 'COUNT', 1),
      ]);
      // A stream entry's id starts with the time it was added (ms).
      const ingest = first ? Number(first[0].split('-')[0]) : Infinity;
      return Math.min(job?.timestamp ?? Infinity, ingest);
    }),
  );
  const since = Math.min(...oldest);
  return Number.isFinite(since) ? Math.max(0, (now - since) / 1000) : 0;
}
