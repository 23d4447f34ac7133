import { createRequire } from 'node:module';

// ioredis's own slot function (CRC16 of the key's hash tag); it ships no types.
const keySlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;

/**
 * Redis key layout, in partitions. Each partition's keys carry its own hash tag (partition 0:
 * `{cbgw}`, the layout of a single Redis; partition p: `{cbgw:p<p>.<k>}`), so the atomic
 * scripts touch keys of one Redis Cluster slot, as a BullMQ queue's keys do, and the
 * partitions spread over the cluster's masters.
 *
 * A registration belongs to one partition, chosen at creation. Its id, its callback token and
 * its callbacks' ids carry it (`.p<p>` at the end; none for partition 0), so every key of an id
 * is found without a lookup, whichever partition's {@link StoreKeys} builds it. What spans the
 * deployment (heartbeats, history, breakers, parse job ids) stays under partition 0's tag.
 */
export interface StoreKeys {
  readonly prefix: string;
  /** This partition's number (0 to `partitions - 1`). */
  readonly partition: number;
  /** How many partitions the deployment has (`STORE_PARTITIONS`). */
  readonly partitions: number;
  /** This partition's hash tag, braces included: the prefix of its keys and of its queue. */
  readonly tag: string;
  /** Every partition's keys, by number. */
  readonly all: readonly StoreKeys[];
  /** The keys of the partition an id or a callback token belongs to (see {@link partitionOf}). */
  of(idOrToken: string): StoreKeys;
  /** Hash: one registration. */
  registration(id: string): string;
  /** String: registration id, by SHA-256 of its callback token (the token itself is never
   * stored); in this partition (take the token's: `keys.of(token).token(...)`). */
  token(tokenHash: string): string;
  /** String: one stored callback, as received (see `encodeCallbackRecord`); never changed. */
  callback(id: string): string;
  /** Hash: the delivery of one callback (state, attempts, last answer); written by the worker. */
  delivery(id: string): string;
  /** List: ids of a registration's callbacks, newest last (capped). */
  registrationCallbacks(id: string): string;
  /** String: callback id, by registration and dedup key hash. */
  dedup(registrationId: string, dedupHash: string): string;
  /** Sorted set: delivery (callback) ids in a state, scored by the time they entered it. */
  deliveryState(state: string): string;
  /** List: a delivery's attempts (JSON), oldest first (capped). */
  deliveryAttempts(id: string): string;
  /** Stream: a registration's audit records, as `createRedisAuditStore` of
   * `@callback-gateway/audit` reads them with {@link auditPartitionsOf} (the delivery scripts
   * write theirs there in the same call as the state change). */
  registrationAudit(registrationId: string): string;
  /** Stream: callbacks stored and waiting to be handed to the delivery queue (each entry: the
   * callback id, its registration id, its record's header line; or a replay round). */
  readonly ingest: string;
  /** Sorted set: registration ids waiting for their final callback, scored by deadline (ms). */
  readonly waiting: string;
  /** String: id of the final callback a registration got (a real one, or a reconciled one):
   * a second final one is a duplicate, so the pipeline gets one final delivery. */
  final(registrationId: string): string;
  /** Sorted set: registrations past their deadline without a final callback, by deadline. */
  readonly overdue: string;
  /** Sorted set: registrations to reconcile (ask the parser), scored by the next poll (ms). */
  readonly reconcile: string;
  /** Sorted set: gateway instances, scored by their last heartbeat (ms). */
  readonly gateways: string;
  /** Sorted set: worker instances, scored by their last heartbeat (ms). */
  readonly workers: string;
  /** String: registration id, by the parser job id it was given (partition 0). */
  parseJob(jobId: string): string;
  /** Hash: what happened in one bucket of history (counters, latency histogram), by its start
   * and its length: a minute (`{cbgw}:hist:<ms>`) or ten (`{cbgw}:hist10:<ms>`); expires after
   * 25 h. */
  history(startMs: number, spanMs?: number): string;
  /** Hash: attempts per destination in one minute (`<label>\tok|failed`); expires after 16 min. */
  destinationHistory(minuteMs: number): string;
  /** Hash: per destination, its last success and last error (`<label>\tok_at|error_at|error`). */
  readonly destinationsLast: string;
  /** Hash: circuit breakers not closed, by `<level>\t<label>` (JSON); written on transitions. */
  readonly breakers: string;
}

/** Most partitions (`STORE_PARTITIONS`). */
export const MAX_PARTITIONS = 256;

const MARKER = /\.p(\d{1,3})$/;

/** The partition an id or a callback token belongs to: its `.p<p>` ending, or 0. */
export function partitionOf(idOrToken: string): number {
  const match = MARKER.exec(idOrToken);
  if (!match) return 0;
  const partition = Number(match[1]);
  return partition < MAX_PARTITIONS ? partition : 0;
}

/** An id or token of partition `partition` (partition 0's carry no marker: today's ids). */
export function inPartition(idOrToken: string, partition: number): string {
  return partition === 0 ? idOrToken : `${idOrToken}.p${partition}`;
}

/** The id or token without its partition marker. */
export function withoutPartition(idOrToken: string): string {
  return idOrToken.replace(MARKER, '');
}

const SLOTS = 16_384;

/** The van der Corput fraction of `n` (0.5, 0.25, 0.75, 0.125, ...): the first N of them,
 * for N a power of two, are evenly spaced. */
function spread(n: number): number {
  let fraction = 0;
  let weight = 0.5;
  for (let rest = n; rest > 0; rest >>= 1, weight /= 2) if (rest & 1) fraction += weight;
  return fraction;
}

const tags = new Map<string, string>();

/**
 * Partition p's hash tag. Partition 0's is `{prefix}`; the others' are chosen (once, the same
 * on every process: it depends on the prefix and p only) so that their slots fall evenly over
 * the slot space, after partition 0's: a cluster's masters, which own equal slot ranges, get
 * equal shares of the partitions.
 */
export function partitionTag(prefix: string, partition: number): string {
  if (partition === 0) return `{${prefix}}`;
  const cached = tags.get(`${prefix}\t${partition}`);
  if (cached) return cached;
  const target = (keySlot(prefix) + Math.round(spread(partition) * SLOTS)) % SLOTS;
  let tag = '';
  for (let k = 0; ; k++) {
    const name = `${prefix}:p${partition}.${k}`;
    const distance = Math.abs(keySlot(name) - target);
    if (Math.min(distance, SLOTS - distance) <= 32) {
      tag = `{${name}}`;
      break;
    }
  }
  tags.set(`${prefix}\t${partition}`, tag);
  return tag;
}

/** Options for {@link storeKeys}. */
export interface StoreKeysOptions {
  /** `STORE_PARTITIONS`. @defaultValue 1 */
  partitions?: number;
}

/** Builds the key layout for a prefix; returns partition 0's keys (`of`, `all`: the others). */
export function storeKeys(prefix = 'cbgw', options: StoreKeysOptions = {}): StoreKeys {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(prefix)) {
    throw new Error(`invalid store prefix "${prefix}": use 1-64 letters, digits, "_", "." or "-"`);
  }
  const partitions = options.partitions ?? 1;
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
    throw new Error(`invalid partition count ${partitions}: use 1 to ${MAX_PARTITIONS}`);
  }
  const global = `{${prefix}}`;
  // An id's keys carry its own partition's tag, whichever partition builds them.
  const tagOf = (id: string) => partitionTag(prefix, partitionOf(id));
  const all: StoreKeys[] = [];
  const build = (partition: number): StoreKeys => {
    const p = partitionTag(prefix, partition);
    return {
      prefix,
      partition,
      partitions,
      tag: p,
      all,
      of: (idOrToken) => all[partitionOf(idOrToken)] ?? build(partitionOf(idOrToken)),
      registration: (id) => `${tagOf(id)}:reg:${id}`,
      token: (tokenHash) => `${p}:tok:${tokenHash}`,
      callback: (id) => `${tagOf(id)}:cb:${id}`,
      delivery: (id) => `${tagOf(id)}:dl:${id}`,
      registrationCallbacks: (id) => `${tagOf(id)}:reg:${id}:cbs`,
      dedup: (registrationId, dedupHash) =>
        `${tagOf(registrationId)}:dedup:${registrationId}:${dedupHash}`,
      deliveryState: (state) => `${p}:state:${state}`,
      deliveryAttempts: (id) => `${tagOf(id)}:dl:${id}:attempts`,
      registrationAudit: (id) => `${tagOf(id)}:audit:reg:${id}`,
      ingest: `${p}:ingest`,
      waiting: `${p}:waiting`,
      final: (registrationId) => `${tagOf(registrationId)}:final:${registrationId}`,
      overdue: `${p}:overdue`,
      reconcile: `${p}:reconcile`,
      gateways: `${global}:gateways`,
      workers: `${global}:workers`,
      parseJob: (jobId) => `${global}:job:${jobId}`,
      history: (startMs, spanMs = 60_000) =>
        `${global}:hist${spanMs === 60_000 ? '' : spanMs / 60_000}:${startMs}`,
      destinationHistory: (minuteMs) => `${global}:histd:${minuteMs}`,
      destinationsLast: `${global}:dest:last`,
      breakers: `${global}:breakers`,
    };
  };
  for (let partition = 0; partition < partitions; partition++) all.push(build(partition));
  return all[0] as StoreKeys;
}

/** BullMQ queue names (their keys share the store's hash tag: `{<prefix>}:<queue>:*`). */
export const QUEUES = {
  /** Callbacks on their way to pipelines: a job delivers a batch of them (see the worker). */
  deliveries: 'deliveries',
  /** Documents to submit to the parser (job id: the submission id). */
  parseSubmissions: 'parse-submissions',
} as const;

/** The job of the parse submission queue. */
export interface ParseSubmissionJob {
  submissionId: string;
}

/** The audit streams' partitions (`<partition tag>:audit`): a registration's events are kept
 * in its partition (see `RedisAuditStoreOptions.partitions` of `@callback-gateway/audit`). */
export function auditPartitionsOf(keys: StoreKeys): {
  prefixOf(registrationId: string): string;
  readonly prefixes: readonly string[];
} {
  return {
    prefixOf: (registrationId) => `${keys.of(registrationId).tag}:audit`,
    prefixes: keys.all.map((own) => `${own.tag}:audit`),
  };
}
