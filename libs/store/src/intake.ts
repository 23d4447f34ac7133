import { createHash, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { StoreKeys } from './keys.js';

/**
 * One atomic step per callback: refuse it if the registration is gone, answer "duplicate" if its
 * dedup key was seen, otherwise store it, count it, and append it to the ingest stream. Run as
 * one script, a callback is either wholly stored and queued or not at all: a 2xx can follow.
 *
 * A final callback (the job's outcome, or a reconciled one) is also the registration's only
 * final one: a second final callback, whatever its id, is answered as a duplicate, so a late
 * real callback and a reconciled one reach the pipeline once.
 *
 * KEYS: registration, dedup, callback, registration callbacks list, ingest stream, the index
 *       of queued deliveries, the final marker, waiting set, overdue set, reconcile set
 * ARGV: callback id, dedup ttl s, callback ttl s, received at (ISO), registration id,
 *       received at (ms), final ('1' or '0'), then the callback hash's field/value pairs
 */
const INTAKE_SCRIPT = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'gone', ''} end
local existing = redis.call('GET', KEYS[2])
if existing then return {'duplicate', existing} end
if ARGV[7] == '1' then
  local final = redis.call('GET', KEYS[7])
  if final then return {'duplicate', final} end
  redis.call('SET', KEYS[7], ARGV[1], 'EX', tonumber(ARGV[2]))
  redis.call('ZREM', KEYS[8], ARGV[5])
  redis.call('ZREM', KEYS[9], ARGV[5])
  redis.call('ZREM', KEYS[10], ARGV[5])
end
redis.call('SET', KEYS[2], ARGV[1], 'EX', tonumber(ARGV[2]))
local fields = {}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[3], unpack(fields))
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[3]))
redis.call('RPUSH', KEYS[4], ARGV[1])
redis.call('LTRIM', KEYS[4], -100, -1)
redis.call('EXPIRE', KEYS[4], tonumber(ARGV[3]))
redis.call('HINCRBY', KEYS[1], 'callbacks_received', 1)
redis.call('HSET', KEYS[1], 'last_callback_at', ARGV[4])
if state == 'waiting' or state == 'overdue' then redis.call('HSET', KEYS[1], 'state', 'received') end
redis.call('ZADD', KEYS[6], tonumber(ARGV[6]), ARGV[1])
local entry = redis.call('XADD', KEYS[5], '*', 'cb', ARGV[1], 'reg', ARGV[5])
return {'stored', entry}
`;

/** A callback to store, as recognised by the gateway. */
export interface IncomingCallback {
  registrationId: string;
  format: string;
  /** The payload's JSON text as received (inner text for a string-encoded envelope); the
   * request's own bytes when they are that text (no re-encoding on the way to Redis). */
  payloadJson: string | Buffer;
  contentType: string;
  receivedAt: string;
  dedupKey: string;
  eventType?: string | undefined;
  eventId?: string | undefined;
  jobId?: string | undefined;
  stringEncoded: boolean;
  signature: 'verified' | 'absent' | 'not_configured';
  /** The job's outcome (a terminal event, a legacy full result, or a reconciled result). */
  final: boolean;
  /** Found by asking the parser, not sent by it. */
  reconciled?: boolean;
}

/** What became of a callback. */
export type IntakeResult =
  | { outcome: 'stored'; callbackId: string; entryId: string }
  | { outcome: 'duplicate'; callbackId: string }
  | { outcome: 'registration_gone' };

/** Stores callbacks atomically; see {@link INTAKE_SCRIPT}. */
export interface Intake {
  store(callback: IncomingCallback): Promise<IntakeResult>;
}

/** Options for {@link createIntake}. */
export interface IntakeOptions {
  /** A borrowed connection. Give the gateway's one `enableAutoPipelining: true`: the scripts of
   * concurrent requests then share network writes (group commit) with no code of ours. */
  redis: Redis | Cluster;
  keys: StoreKeys;
  /**
   * How long a dedup key is remembered.
   * @defaultValue 604_800 (7 days)
   */
  dedupTtlSeconds?: number;
  /**
   * How long a stored callback is kept (it is delivered long before; replay needs it).
   * @defaultValue 1_209_600 (14 days)
   */
  callbackTtlSeconds?: number;
}

type IntakeRedis = (Redis | Cluster) & {
  cbgwIntake(...args: (string | number | Buffer)[]): Promise<[string, string]>;
};

/** Creates the intake on a borrowed connection (defines its script there once). */
export function createIntake(options: IntakeOptions): Intake {
  const redis = options.redis as IntakeRedis;
  const { keys } = options;
  const dedupTtl = options.dedupTtlSeconds ?? 604_800;
  const callbackTtl = options.callbackTtlSeconds ?? 1_209_600;
  if (typeof redis.cbgwIntake !== 'function') {
    redis.defineCommand('cbgwIntake', { numberOfKeys: 10, lua: INTAKE_SCRIPT });
  }

  return {
    async store(callback) {
      const callbackId = `cb_${randomUUID().replaceAll('-', '')}`;
      const dedupHash = createHash('sha256').update(callback.dedupKey).digest('hex');
      const fields: (string | Buffer)[] = [
        'id',
        callbackId,
        'registration_id',
        callback.registrationId,
        'format',
        callback.format,
        'payload',
        callback.payloadJson,
        'content_type',
        callback.contentType,
        'received_at',
        callback.receivedAt,
        'dedup_key',
        callback.dedupKey,
        'string_encoded',
        callback.stringEncoded ? '1' : '0',
        'signature',
        callback.signature,
        'delivery_state',
        'queued',
      ];
      if (callback.eventType !== undefined) fields.push('event_type', callback.eventType);
      if (callback.eventId !== undefined) fields.push('event_id', callback.eventId);
      if (callback.jobId !== undefined) fields.push('job_id', callback.jobId);
      if (callback.reconciled) fields.push('reconciled', '1');
      const [outcome, detail] = await redis.cbgwIntake(
        keys.registration(callback.registrationId),
        keys.dedup(callback.registrationId, dedupHash),
        keys.callback(callbackId),
        keys.registrationCallbacks(callback.registrationId),
        keys.ingest,
        keys.deliveryState('queued'),
        keys.final(callback.registrationId),
        keys.waiting,
        keys.overdue,
        keys.reconcile,
        callbackId,
        dedupTtl,
        callbackTtl,
        callback.receivedAt,
        callback.registrationId,
        Date.parse(callback.receivedAt),
        callback.final ? '1' : '0',
        ...fields,
      );
      if (outcome === 'stored') return { outcome, callbackId, entryId: detail };
      if (outcome === 'duplicate') return { outcome, callbackId: detail };
      return { outcome: 'registration_gone' };
    },
  };
}
