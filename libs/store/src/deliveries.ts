import type { Cluster, Redis } from 'ioredis';
import { decodeCallbackRecord, type CallbackRecord } from './callback-record.js';
import type { StoreKeys } from './keys.js';

/** Where the delivery of one callback to its pipeline stands. */
export const DELIVERY_STATES = [
  'queued',
  'delivering',
  'retrying',
  'delivered',
  'dead_lettered',
] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** One attempt to deliver. */
export interface DeliveryAttempt {
  attempt: number;
  at: string;
  /** HTTP status, when the pipeline answered. */
  status?: number;
  latencyMs: number;
  /** What went wrong, when it did. */
  error?: string;
  outcome: 'delivered' | 'retry' | 'dead_lettered' | 'gone';
}

/** A delivery: one stored callback on its way to `deliver_to`. Its id is the callback's id,
 * which is also the `webhook-id` the pipeline deduplicates on (stable across retries and
 * replays). */
export interface Delivery {
  id: string;
  registrationId: string;
  state: DeliveryState;
  format: string;
  eventType: string | undefined;
  eventId: string | undefined;
  jobId: string | undefined;
  receivedAt: string;
  attempts: number;
  lastStatus: number | undefined;
  lastError: string | undefined;
  nextAttemptAt: string | undefined;
  deliveredAt: string | undefined;
  replays: number;
  reconciled: boolean;
}

/** A stored callback with what a delivery needs to send it. */
export interface StoredCallback extends Delivery {
  payloadJson: string;
}

/**
 * Moves a delivery to a state and keeps the per-state index in step (one script: the hash and
 * the indexes never disagree). KEYS: delivery hash, registration hash, state index prefix (the
 * key of state S is `<prefix>S`). ARGV: new state, now (ms), then field/value pairs to set.
 * The registration's state follows its newest delivery.
 */
const TRANSITION_SCRIPT = `
local old = redis.call('HGET', KEYS[1], 'delivery_state')
if not old then return 0 end
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('ZREM', KEYS[3] .. old, id)
local fields = {'delivery_state', ARGV[1]}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[3] .. ARGV[1], tonumber(ARGV[2]), id)
if ARGV[1] == 'delivered' then
  redis.call('ZREMRANGEBYRANK', KEYS[3] .. 'delivered', 0, -10001)
end
local regState = ({queued = 'received', delivering = 'delivering', retrying = 'delivering',
  delivered = 'delivered', dead_lettered = 'dead_lettered'})[ARGV[1]]
if regState and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'state', regState)
end
return 1
`;

/**
 * Puts a delivery back on the ingest stream for another round (replay): counts the round, moves
 * it to `queued` (so a second replay is refused until this one is picked up) and appends the
 * round to the stream. KEYS: record, delivery hash, state index prefix, ingest stream.
 * ARGV: now (ms). Returns the round, or false when the callback (or its delivery) is unknown.
 */
const REQUEUE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local d = redis.call('HMGET', KEYS[2], 'delivery_state', 'registration_id', 'id')
if not d[1] then return false end
local round = redis.call('HINCRBY', KEYS[2], 'replays', 1)
redis.call('HSET', KEYS[2], 'delivery_state', 'queued', 'job', '', 'next_attempt_at', '')
redis.call('ZREM', KEYS[3] .. d[1], d[3])
redis.call('ZADD', KEYS[3] .. 'queued', tonumber(ARGV[1]), d[3])
redis.call('XADD', KEYS[4], '*', 'cb', d[3], 'reg', d[2], 'replay', round)
return round
`;

/**
 * The newest deliveries in a state with their registration's `deliver_to` (`''` once the
 * registration expired), in one round trip. KEYS: the state index. ARGV: how many, the delivery
 * key prefix, the registration key prefix (keys share the store's hash tag). Returns
 * id, deliver_to, id, deliver_to, ...
 */
const DESTINATIONS_SCRIPT = `
local ids = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local seen, out = {}, {}
for _, id in ipairs(ids) do
  local reg = redis.call('HGET', ARGV[2] .. id, 'registration_id')
  local to = ''
  if reg then
    to = seen[reg]
    if to == nil then
      to = redis.call('HGET', ARGV[3] .. reg, 'deliver_to') or ''
      seen[reg] = to
    end
  end
  out[#out + 1] = id
  out[#out + 1] = to
end
return out
`;

type DeliveryRedis = (Redis | Cluster) & {
  cbgwDestinations(...args: (string | number)[]): Promise<string[]>;
  cbgwTransition(...args: (string | number)[]): Promise<number>;
  cbgwRequeue(...args: (string | number)[]): Promise<number | null>;
};

/** The delivery hash's fields a summary shows. */
export const DELIVERY_SUMMARY_FIELDS = [
  'id',
  'registration_id',
  'delivery_state',
  'format',
  'event_type',
  'event_id',
  'job_id',
  'received_at',
  'attempts',
  'last_status',
  'last_error',
  'next_attempt_at',
  'delivered_at',
  'replays',
  'reconciled',
] as const;

/** A delivery from its hash's fields (`''` counts as absent). */
export function deliveryFromHash(raw: Record<string, string | undefined>): Delivery | undefined {
  const text = (name: string) => {
    const value = raw[name];
    return value === undefined || value === '' ? undefined : value;
  };
  const id = text('id');
  const registrationId = text('registration_id');
  if (!id || !registrationId) return undefined;
  const number = (name: string) => {
    const value = text(name);
    return value === undefined ? undefined : Number(value);
  };
  return {
    id,
    registrationId,
    state: (text('delivery_state') as DeliveryState | undefined) ?? 'queued',
    format: text('format') ?? 'other',
    eventType: text('event_type'),
    eventId: text('event_id'),
    jobId: text('job_id'),
    receivedAt: text('received_at') ?? '',
    attempts: number('attempts') ?? 0,
    lastStatus: number('last_status'),
    lastError: text('last_error'),
    nextAttemptAt: text('next_attempt_at'),
    deliveredAt: text('delivered_at'),
    replays: number('replays') ?? 0,
    reconciled: text('reconciled') === '1',
  };
}

/** The delivery of a callback the worker has not picked up yet (its record alone). */
function notYetPickedUp(record: CallbackRecord): Delivery {
  return {
    id: record.id,
    registrationId: record.registrationId,
    state: 'queued',
    format: record.format,
    eventType: record.eventType,
    eventId: record.eventId,
    jobId: record.jobId,
    receivedAt: record.receivedAt,
    attempts: 0,
    lastStatus: undefined,
    lastError: undefined,
    nextAttemptAt: undefined,
    deliveredAt: undefined,
    replays: 0,
    reconciled: record.reconciled,
  };
}

/** Reads and moves deliveries. Shared by the worker (which moves them) and the gateway
 * (which lists them and asks for replays). */
export interface DeliveryStore {
  /** A stored callback and where its delivery stands (`queued` until a worker picked it up). */
  get(id: string): Promise<StoredCallback | undefined>;
  /** The newest callbacks of a registration a worker picked up (newest last). */
  listForRegistration(registrationId: string, limit?: number): Promise<Delivery[]>;
  /** Deliveries in a state, newest first. */
  listByState(state: DeliveryState, limit?: number): Promise<Delivery[]>;
  countByState(state: DeliveryState): Promise<number>;
  /** The newest `limit` deliveries in a state with their registration's `deliver_to`
   * (undefined once it expired), in one round trip. */
  destinationsByState(
    state: DeliveryState,
    limit: number,
  ): Promise<{ id: string; deliverTo: string | undefined }[]>;
  attempts(id: string): Promise<DeliveryAttempt[]>;
  /** Moves a delivery to `state`, setting `fields` (snake_case hash fields) too. */
  transition(
    delivery: Pick<Delivery, 'id' | 'registrationId'>,
    state: DeliveryState,
    fields?: Record<string, string>,
  ): Promise<boolean>;
  /**
   * Puts a delivery back on the ingest stream for another round (replay) and moves it to
   * `queued`. Returns the round, or undefined when the callback is unknown (expired).
   */
  requeue(id: string): Promise<number | undefined>;
}

/** Options for {@link createDeliveryStore}. */
export interface DeliveryStoreOptions {
  redis: Redis | Cluster;
  keys: StoreKeys;
  /** @defaultValue `() => Date.now()` */
  now?: () => number;
}

const CALLBACK_ID = /^cb_[0-9a-f]{32}(\.p\d{1,3})?$/;

/** Creates the delivery store on a borrowed connection. */
export function createDeliveryStore(options: DeliveryStoreOptions): DeliveryStore {
  const redis = options.redis as DeliveryRedis;
  const { keys } = options;
  const now = options.now ?? (() => Date.now());
  if (typeof redis.cbgwTransition !== 'function') {
    redis.defineCommand('cbgwTransition', { numberOfKeys: 3, lua: TRANSITION_SCRIPT });
  }
  if (typeof redis.cbgwRequeue !== 'function') {
    redis.defineCommand('cbgwRequeue', { numberOfKeys: 4, lua: REQUEUE_SCRIPT });
  }
  if (typeof redis.cbgwDestinations !== 'function') {
    redis.defineCommand('cbgwDestinations', { numberOfKeys: 1, lua: DESTINATIONS_SCRIPT });
  }
  // One pipeline per partition (on a cluster a pipeline goes to one node), in the ids' order.
  const summaries = async (ids: readonly string[]): Promise<Delivery[]> => {
    if (ids.length === 0) return [];
    const byPartition = new Map<number, string[]>();
    for (const id of ids) {
      const partition = keys.of(id).partition;
      const group = byPartition.get(partition);
      if (group) group.push(id);
      else byPartition.set(partition, [id]);
    }
    const found = new Map<string, Delivery>();
    await Promise.all(
      [...byPartition.values()].map(async (group) => {
        const pipeline = redis.pipeline();
        for (const id of group) pipeline.hmget(keys.delivery(id), ...DELIVERY_SUMMARY_FIELDS);
        const results = (await pipeline.exec()) ?? [];
        results.forEach(([error, values], i) => {
          if (error || !Array.isArray(values)) return;
          const raw: Record<string, string | undefined> = {};
          DELIVERY_SUMMARY_FIELDS.forEach((field, index) => {
            const value = values[index] as string | null;
            if (value !== null) raw[field] = value;
          });
          const delivery = deliveryFromHash(raw);
          if (delivery) found.set(group[i] as string, delivery);
        });
      }),
    );
    return ids.flatMap((id) => found.get(id) ?? []);
  };

  /** The newest `limit` ids in a state, over every partition (each partition's index is
   * scored by the time its deliveries entered the state). */
  const newestInState = async (state: string, limit: number): Promise<string[]> => {
    const lists = await Promise.all(
      keys.all.map((own) =>
        redis.zrevrange(own.deliveryState(state), 0, Math.max(0, limit - 1), 'WITHSCORES'),
      ),
    );
    const scored: [id: string, score: number][] = [];
    for (const flat of lists) {
      for (let i = 0; i + 1 < flat.length; i += 2) {
        scored.push([flat[i] as string, Number(flat[i + 1])]);
      }
    }
    return scored
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([id]) => id);
  };

  return {
    async get(id) {
      if (!CALLBACK_ID.test(id)) return undefined;
      const [[, stored], [, hash]] = ((await redis
        .pipeline()
        .get(keys.callback(id))
        .hgetall(keys.delivery(id))
        .exec()) ?? [
        [null, null],
        [null, {}],
      ]) as [[unknown, string | null], [unknown, Record<string, string> | null]];
      const record = typeof stored === 'string' ? decodeCallbackRecord(stored) : undefined;
      if (!record) return undefined;
      const delivery =
        (hash && Object.keys(hash).length > 0 ? deliveryFromHash(hash) : undefined) ??
        notYetPickedUp(record);
      return { ...delivery, payloadJson: record.payloadJson };
    },
    async listForRegistration(registrationId, limit = 100) {
      const ids = await redis.lrange(keys.registrationCallbacks(registrationId), -limit, -1);
      return summaries(ids);
    },
    async listByState(state, limit = 100) {
      return summaries(await newestInState(state, limit));
    },
    async countByState(state) {
      const counts = await Promise.all(
        keys.all.map((own) => redis.zcard(own.deliveryState(state))),
      );
      return counts.reduce((sum, count) => sum + count, 0);
    },
    async destinationsByState(state, limit) {
      // Up to `limit` from each partition, the newest `limit` of them in all.
      const per = await Promise.all(
        keys.all.map(async (own) => {
          const flat = await redis.cbgwDestinations(
            own.deliveryState(state),
            limit,
            `${own.tag}:dl:`,
            `${own.tag}:reg:`,
          );
          const out: { id: string; deliverTo: string | undefined }[] = [];
          for (let i = 0; i + 1 < flat.length; i += 2) {
            out.push({ id: flat[i] as string, deliverTo: flat[i + 1] || undefined });
          }
          return out;
        }),
      );
      if (per.length === 1) return per[0] ?? [];
      const order = new Map((await newestInState(state, limit)).map((id, i) => [id, i]));
      return per
        .flat()
        .filter((item) => order.has(item.id))
        .sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
    },
    async attempts(id) {
      const entries = await redis.lrange(keys.deliveryAttempts(id), 0, -1);
      return entries.flatMap((entry) => {
        try {
          return [JSON.parse(entry) as DeliveryAttempt];
        } catch {
          return [];
        }
      });
    },
    async transition(delivery, state, fields = {}) {
      const pairs = Object.entries(fields).flat();
      const done = await redis.cbgwTransition(
        keys.delivery(delivery.id),
        keys.registration(delivery.registrationId),
        keys.of(delivery.id).deliveryState(''),
        state,
        now(),
        ...pairs,
      );
      return done === 1;
    },
    async requeue(id) {
      if (!CALLBACK_ID.test(id)) return undefined;
      const round = await redis.cbgwRequeue(
        keys.callback(id),
        keys.delivery(id),
        keys.of(id).deliveryState(''),
        keys.of(id).ingest,
        now(),
      );
      return round === null ? undefined : Number(round);
    },
  };
}
