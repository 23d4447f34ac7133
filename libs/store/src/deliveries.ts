import type { Cluster, Redis } from 'ioredis';
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
 * the indexes never disagree). KEYS: callback hash, registration hash, state index prefix (the
 * key of state S is `<prefix>S`). ARGV: new state, now (ms), then field/value pairs to set.
 * The registration's state follows its newest delivery.
 */
const TRANSITION_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[1], 'delivery_state')
if old then redis.call('ZREM', KEYS[3] .. old, redis.call('HGET', KEYS[1], 'id')) end
local fields = {'delivery_state', ARGV[1]}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
local id = redis.call('HGET', KEYS[1], 'id')
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

type DeliveryRedis = (Redis | Cluster) & {
  cbgwTransition(...args: (string | number)[]): Promise<number>;
};

function fromHash(raw: Record<string, string>): StoredCallback | undefined {
  if (!raw['id'] || !raw['registration_id'] || raw['payload'] === undefined) return undefined;
  const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));
  return {
    id: raw['id'],
    registrationId: raw['registration_id'],
    state: (raw['delivery_state'] as DeliveryState | undefined) ?? 'queued',
    format: raw['format'] ?? 'other',
    eventType: raw['event_type'],
    eventId: raw['event_id'],
    jobId: raw['job_id'],
    receivedAt: raw['received_at'] ?? '',
    attempts: number(raw['attempts']) ?? 0,
    lastStatus: number(raw['last_status']),
    lastError: raw['last_error'],
    nextAttemptAt: raw['next_attempt_at'],
    deliveredAt: raw['delivered_at'],
    replays: number(raw['replays']) ?? 0,
    reconciled: raw['reconciled'] === '1',
    payloadJson: raw['payload'],
  };
}

/** Reads and moves deliveries. Shared by the worker (which moves them) and the gateway
 * (which lists them and asks for replays). */
export interface DeliveryStore {
  get(id: string): Promise<StoredCallback | undefined>;
  /** The newest callbacks of a registration (newest last), without payloads' size concerns. */
  listForRegistration(registrationId: string, limit?: number): Promise<Delivery[]>;
  /** Deliveries in a state, newest first. */
  listByState(state: DeliveryState, limit?: number): Promise<Delivery[]>;
  countByState(state: DeliveryState): Promise<number>;
  attempts(id: string): Promise<DeliveryAttempt[]>;
  /** Moves a delivery to `state`, setting `fields` (snake_case hash fields) too. */
  transition(
    delivery: Pick<Delivery, 'id' | 'registrationId'>,
    state: DeliveryState,
    fields?: Record<string, string>,
  ): Promise<boolean>;
  /** Appends an attempt to the delivery's log (capped at 50) and counts it. */
  recordAttempt(id: string, attempt: DeliveryAttempt): Promise<void>;
  /**
   * Puts a delivery back on the ingest stream for another round (replay). Returns the replay
   * number, or undefined when the callback is unknown (expired).
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

/** Creates the delivery store on a borrowed connection. */
export function createDeliveryStore(options: DeliveryStoreOptions): DeliveryStore {
  const redis = options.redis as DeliveryRedis;
  const { keys } = options;
  const now = options.now ?? (() => Date.now());
  if (typeof redis.cbgwTransition !== 'function') {
    redis.defineCommand('cbgwTransition', { numberOfKeys: 3, lua: TRANSITION_SCRIPT });
  }
  const summaryFields = [
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
  ];
  const summaries = async (ids: readonly string[]): Promise<Delivery[]> => {
    if (ids.length === 0) return [];
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hmget(keys.callback(id), ...summaryFields);
    const results = (await pipeline.exec()) ?? [];
    const out: Delivery[] = [];
    for (const [error, values] of results) {
      if (error || !Array.isArray(values)) continue;
      const raw: Record<string, string> = { payload: '' };
      summaryFields.forEach((field, index) => {
        const value = values[index] as string | null;
        if (value !== null) raw[field] = value;
      });
      const parsed = fromHash(raw);
      if (parsed) {
        const { payloadJson: _payload, ...delivery } = parsed;
        out.push(delivery);
      }
    }
    return out;
  };

  return {
    async get(id) {
      if (!/^cb_[0-9a-f]{32}$/.test(id)) return undefined;
      const raw = await redis.hgetall(keys.callback(id));
      return fromHash(raw);
    },
    async listForRegistration(registrationId, limit = 100) {
      const ids = await redis.lrange(keys.registrationCallbacks(registrationId), -limit, -1);
      return summaries(ids);
    },
    async listByState(state, limit = 100) {
      const ids = await redis.zrevrange(keys.deliveryState(state), 0, Math.max(0, limit - 1));
      return summaries(ids);
    },
    countByState: (state) => redis.zcard(keys.deliveryState(state)),
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
        keys.callback(delivery.id),
        keys.registration(delivery.registrationId),
        keys.deliveryState(''),
        state,
        now(),
        ...pairs,
      );
      return done === 1;
    },
    async recordAttempt(id, attempt) {
      await redis
        .multi()
        .rpush(keys.deliveryAttempts(id), JSON.stringify(attempt))
        .ltrim(keys.deliveryAttempts(id), -50, -1)
        .expire(keys.deliveryAttempts(id), 1_209_600)
        .hset(keys.callback(id), 'attempts', String(attempt.attempt))
        .exec();
    },
    async requeue(id) {
      const registrationId = await redis.hget(keys.callback(id), 'registration_id');
      if (!registrationId) return undefined;
      // The replay number makes the queue job unique; the webhook-id stays the callback id.
      const replay = await redis.hincrby(keys.callback(id), 'replays', 1);
      await redis.xadd(keys.ingest, '*', 'cb', id, 'reg', registrationId, 'replay', String(replay));
      return replay;
    },
  };
}
