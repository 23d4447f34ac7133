/**
 * Redis key layout. Every key carries the same hash tag (`{cbgw}` by default), so the atomic
 * intake script may touch several of them on a Redis Cluster too (they share one slot, as a
 * BullMQ queue's keys do).
 */
export interface StoreKeys {
  readonly prefix: string;
  /** Hash: one registration. */
  registration(id: string): string;
  /** String: registration id, by SHA-256 of its callback token (the token itself is never stored). */
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
  /** String: registration id, by the parser job id it was given. */
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

/** Builds the key layout for a prefix. */
export function storeKeys(prefix = 'cbgw'): StoreKeys {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(prefix)) {
    throw new Error(`invalid store prefix "${prefix}": use 1-64 letters, digits, "_", "." or "-"`);
  }
  const p = `{${prefix}}`;
  return {
    prefix,
    registration: (id) => `${p}:reg:${id}`,
    token: (tokenHash) => `${p}:tok:${tokenHash}`,
    callback: (id) => `${p}:cb:${id}`,
    delivery: (id) => `${p}:dl:${id}`,
    registrationCallbacks: (id) => `${p}:reg:${id}:cbs`,
    dedup: (registrationId, dedupHash) => `${p}:dedup:${registrationId}:${dedupHash}`,
    deliveryState: (state) => `${p}:state:${state}`,
    deliveryAttempts: (id) => `${p}:dl:${id}:attempts`,
    ingest: `${p}:ingest`,
    waiting: `${p}:waiting`,
    final: (registrationId) => `${p}:final:${registrationId}`,
    overdue: `${p}:overdue`,
    reconcile: `${p}:reconcile`,
    gateways: `${p}:gateways`,
    workers: `${p}:workers`,
    parseJob: (jobId) => `${p}:job:${jobId}`,
    history: (startMs, spanMs = 60_000) =>
      `${p}:hist${spanMs === 60_000 ? '' : spanMs / 60_000}:${startMs}`,
    destinationHistory: (minuteMs) => `${p}:histd:${minuteMs}`,
    destinationsLast: `${p}:dest:last`,
    breakers: `${p}:breakers`,
  };
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
