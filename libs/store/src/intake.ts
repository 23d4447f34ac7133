import { hash, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { encodeCallbackRecord } from './callback-record.js';
import { groupCommit } from './group-commit.js';
import { LUA_UNPACKER, packFields } from './pack.js';
import { inPartition, partitionOf, type StoreKeys } from './keys.js';

/**
 * The atomic intake of a batch of callbacks (group commit: the callbacks that arrive while the
 * previous batch is being written go to Redis together, as one script call with one packed
 * argument). Per callback, in order: refuse it if its registration or callback token is gone;
 * answer "duplicate" if its dedup key was seen; for a final callback, answer "duplicate" if the
 * registration already has its final one (and point the dedup key there); otherwise store the
 * record, count it on the registration, and append its header to the ingest stream, from which
 * the worker takes it. A callback is wholly stored and queued or not at all: a 2xx can follow.
 *
 * KEYS: ingest stream, waiting set, overdue set, reconcile set. The other keys (all under the
 * same hash tag, the partition's, so on one Redis Cluster slot, as a BullMQ queue's are) come
 * in the batch: a batch holds the callbacks of one partition.
 * ARGV: dedup ttl s, record ttl s, the batch ({@link packFields}), its size. Per callback, the
 * batch holds its registration
 * key, token key ('' when not checked), dedup key, record key, final marker key, callback id,
 * registration id, received at (ISO), final ('1'/'0'), record (header line, newline, payload).
 * Returns outcome/detail pairs: stored/<stream entry id>, duplicate/<callback id>, gone/''.
 */
const INTAKE_BATCH_SCRIPT = `${LUA_UNPACKER}
local out = {}
local take = unpacker(ARGV[3])
for _ = 1, tonumber(ARGV[4]) do
  local reg, tok, dedup, cb, finalKey = take(), take(), take(), take(), take()
  local id, regId, at, isFinal, record = take(), take(), take(), take(), take()
  local state = redis.call('HGET', reg, 'state')
  if not state or (tok ~= '' and redis.call('EXISTS', tok) == 0) then
    out[#out + 1] = 'gone'
    out[#out + 1] = ''
  else
    local seen = redis.call('SET', dedup, id, 'NX', 'GET', 'EX', ARGV[1])
    local final = nil
    if not seen and isFinal == '1' then
      final = redis.call('SET', finalKey, id, 'NX', 'GET', 'EX', ARGV[1])
      if final then
        redis.call('SET', dedup, final, 'EX', ARGV[1])
      else
        redis.call('ZREM', KEYS[2], regId)
        redis.call('ZREM', KEYS[3], regId)
        redis.call('ZREM', KEYS[4], regId)
      end
    end
    if seen or final then
      out[#out + 1] = 'duplicate'
      out[#out + 1] = seen or final
    else
      redis.call('SET', cb, record, 'EX', ARGV[2])
      redis.call('HINCRBY', reg, 'callbacks_received', 1)
      if state == 'waiting' or state == 'overdue' then
        redis.call('HSET', reg, 'last_callback_at', at, 'state', 'received')
      else
        redis.call('HSET', reg, 'last_callback_at', at)
      end
      local header = string.sub(record, 1, string.find(record, '\\n', 1, true) - 1)
      out[#out + 1] = 'stored'
      out[#out + 1] = redis.call('XADD', KEYS[1], '*', 'cb', id, 'reg', regId, 'h', header)
    end
  end
end
return out
`;

/** A callback to store, as recognised by the gateway (or found by reconciliation). */
export interface IncomingCallback {
  registrationId: string;
  format: string;
  /** The payload's JSON text as received (inner text for a string-encoded envelope), or the
   * request's own bytes when they are exactly that text (they go to Redis as they are). */
  payloadJson: string | Buffer;
  contentType: string;
  receivedAt: string;
  /** Size of the body as received, in bytes. @defaultValue the payload's UTF-8 length */
  bytes?: number | undefined;
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
  /** SHA-256 of the callback token it came with: checked to still exist (not expired), in
   * the same atomic step. Absent for reconciled callbacks. */
  tokenHash?: string | undefined;
}

/** What became of a callback. */
export type IntakeResult =
  | { outcome: 'stored'; callbackId: string; entryId: string }
  | { outcome: 'duplicate'; callbackId: string }
  | { outcome: 'registration_gone' };

/** Stores callbacks atomically, in group commits; see {@link INTAKE_BATCH_SCRIPT}. */
export interface Intake {
  store(callback: IncomingCallback): Promise<IntakeResult>;
}

/** Options for {@link createIntake}. */
export interface IntakeOptions {
  /** A borrowed connection. */
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
  /**
   * Most callbacks in one script call; more waiting go in the next one at once.
   * @defaultValue 256
   */
  maxBatchCallbacks?: number;
  /**
   * Most payload characters in one script call (Redis runs one script at a time: a huge batch
   * would hold every other client back).
   * @defaultValue 4_194_304
   */
  maxBatchChars?: number;
  /**
   * How long the first callback of a batch waits for others before the batch goes (0: to the
   * end of the current turn of the event loop). Adds at most this to the acknowledgement; at
   * moderate rates it saves a script call (and its round trip) per callback.
   * @defaultValue 0
   */
  lingerMs?: number;
  /**
   * The linger ends as soon as this many callbacks wait: under load the batch goes at once.
   * @defaultValue 16
   */
  lingerMaxCallbacks?: number;
  /**
   * Replicas that must have each batch (Redis `WAIT`, sent after the script on the same
   * connection, in the same round trip) before it is answered: with 0 an acknowledged callback
   * can vanish in a failover that promotes a replica it had not reached yet.
   * @defaultValue 0
   */
  ackReplicas?: number;
  /**
   * Longest wait for those replicas; then every callback of the batch fails with
   * {@link NotReplicatedError} (stored on the primary, maybe not after a failover: a retry is
   * safe, the dedup answers it as a duplicate).
   * @defaultValue 1_000
   */
  ackReplicasTimeoutMs?: number;
}

/** A batch was stored on the primary but did not reach `ackReplicas` replicas in time. */
export class NotReplicatedError extends Error {
  readonly code = 'STORE_NOT_REPLICATED';
  constructor(
    readonly wanted: number,
    readonly reached: number,
  ) {
    super(`the callback reached ${reached} of ${wanted} Redis replicas in time`);
    this.name = 'NotReplicatedError';
  }
}

type IntakeRedis = (Redis | Cluster) & {
  cbgwIntakeBatch(...args: (string | Buffer)[]): Promise<string[]>;
};

interface Prepared {
  callback: IncomingCallback;
  callbackId: string;
  /** The record's header line, newline included; the payload follows it. */
  header: string;
}

/**
 * Creates the intake on a borrowed connection (defines its script there once). Callbacks given
 * to `store()` during one turn of the event loop (or within `lingerMs`, until
 * `lingerMaxCallbacks` wait) are written by one script call after it; each still gets its own
 * answer. A failed call rejects every callback of its batch: none of them
 * was acknowledged.
 */
export function createIntake(options: IntakeOptions): Intake {
  const redis = options.redis as IntakeRedis;
  const { keys } = options;
  const dedupTtl = String(options.dedupTtlSeconds ?? 604_800);
  const callbackTtl = String(options.callbackTtlSeconds ?? 1_209_600);
  if (typeof redis.cbgwIntakeBatch !== 'function') {
    redis.defineCommand('cbgwIntakeBatch', { numberOfKeys: 4, lua: INTAKE_BATCH_SCRIPT });
  }
  const ackReplicas = options.ackReplicas ?? 0;
  const ackTimeoutMs = String(options.ackReplicasTimeoutMs ?? 1_000);
  // With replicas to wait for, WAIT follows the script in one pipeline: the same connection
  // (WAIT counts that connection's writes) and, on a cluster, the node of the script's keys.
  const run = async (args: (string | Buffer)[]): Promise<string[]> => {
    if (ackReplicas === 0) return redis.cbgwIntakeBatch(...args);
    const pipeline = redis.pipeline() as ReturnType<IntakeRedis['pipeline']> & {
      cbgwIntakeBatch(...args: (string | Buffer)[]): unknown;
    };
    pipeline.cbgwIntakeBatch(...args);
    pipeline.call('WAIT', String(ackReplicas), ackTimeoutMs);
    const [[scriptError, out] = [], [waitError, reached] = []] = (await pipeline.exec()) ?? [];
    if (scriptError) throw scriptError;
    if (waitError) throw waitError;
    if (Number(reached) < ackReplicas) throw new NotReplicatedError(ackReplicas, Number(reached));
    return out as string[];
  };

  const write = async (own: StoreKeys, batch: Prepared[]): Promise<IntakeResult[]> => {
    const fields: (string | Buffer | (string | Buffer)[])[] = [];
    for (const { callback, callbackId, header } of batch) {
      const dedupHash = hash('sha256', callback.dedupKey, 'hex');
      fields.push(
        keys.registration(callback.registrationId),
        callback.tokenHash === undefined ? '' : own.token(callback.tokenHash),
        keys.dedup(callback.registrationId, dedupHash),
        keys.callback(callbackId),
        keys.final(callback.registrationId),
        callbackId,
        callback.registrationId,
        callback.receivedAt,
        callback.final ? '1' : '0',
        [header, callback.payloadJson],
      );
    }
    const out = await run([
      own.ingest,
      own.waiting,
      own.overdue,
      own.reconcile,
      dedupTtl,
      callbackTtl,
      packFields(fields),
      String(batch.length),
    ]);
    return batch.map((item, i): IntakeResult => {
      const outcome = out[i * 2];
      const detail = out[i * 2 + 1] ?? '';
      if (outcome === 'stored') return { outcome, callbackId: item.callbackId, entryId: detail };
      if (outcome === 'duplicate') return { outcome, callbackId: detail };
      return { outcome: 'registration_gone' };
    });
  };
  // One group commit per partition: a script call touches one partition's keys (one slot).
  const commits = keys.all.map((own) =>
    groupCommit((batch: Prepared[]) => write(own, batch), {
      maxItems: options.maxBatchCallbacks ?? 256,
      maxWeight: options.maxBatchChars ?? 4_194_304,
      weight: (item) => item.header.length + item.callback.payloadJson.length,
      lingerMs: options.lingerMs ?? 0,
      lingerMaxItems: options.lingerMaxCallbacks ?? 16,
    }),
  );

  return {
    store(callback) {
      const partition = partitionOf(callback.registrationId);
      const commit = commits[partition];
      if (!commit) {
        return Promise.reject(
          new Error(
            `registration ${callback.registrationId} is in partition ${partition}, past STORE_PARTITIONS (${keys.partitions}): never lower STORE_PARTITIONS`,
          ),
        );
      }
      const callbackId = inPartition(`cb_${randomUUID().replaceAll('-', '')}`, partition);
      const header = encodeCallbackRecord({
        id: callbackId,
        registrationId: callback.registrationId,
        format: callback.format,
        contentType: callback.contentType,
        receivedAt: callback.receivedAt,
        bytes:
          callback.bytes ??
          (typeof callback.payloadJson === 'string'
            ? Buffer.byteLength(callback.payloadJson)
            : callback.payloadJson.length),
        dedupKey: callback.dedupKey,
        stringEncoded: callback.stringEncoded,
        signature: callback.signature,
        eventType: callback.eventType,
        eventId: callback.eventId,
        jobId: callback.jobId,
        final: callback.final,
        reconciled: callback.reconciled === true,
      });
      return commit({ callback, callbackId, header });
    },
  };
}
