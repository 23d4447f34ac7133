import type { Cluster, Redis } from 'ioredis';
import type { StoreKeys } from './keys.js';

/** A circuit breaker that is not closed, as the worker that moved it last recorded it. */
export interface BreakerRecord {
  level: 'destination' | 'origin';
  /** The destination's label (origin and path), or the origin for `level: 'origin'`. */
  label: string;
  origin: string;
  /** `open` or `half_open`. */
  state: string;
  /** When it left `closed` (ms). */
  since: number;
  reason: string;
}

/** At most this many breakers are recorded (more open at once: the rest are not shown). */
export const BREAKER_RECORDS_MAX = 1_000;

const field = (level: string, label: string) => `${level}\t${label}`;

/**
 * Records a breaker's transition for the dashboard (`{cbgw}:breakers`): a breaker that closes
 * leaves the hash, so it holds only breakers not closed (bounded by {@link BREAKER_RECORDS_MAX}).
 * Best-effort: the worker's metrics and audit records stay the reference.
 */
export async function recordBreakerTransition(
  redis: Redis | Cluster,
  keys: StoreKeys,
  transition: Omit<BreakerRecord, 'since'> & { from: string },
  now = Date.now(),
): Promise<void> {
  const name = field(transition.level, transition.label);
  if (transition.state === 'closed') {
    await redis.hdel(keys.breakers, name);
    return;
  }
  const previous = transition.from === 'closed' ? undefined : await redis.hget(keys.breakers, name);
  const since = previous ? ((JSON.parse(previous) as BreakerRecord).since ?? now) : now;
  if (!previous && (await redis.hlen(keys.breakers)) >= BREAKER_RECORDS_MAX) return;
  const { from: _from, ...record } = transition;
  await redis.hset(keys.breakers, name, JSON.stringify({ ...record, since }));
}

/** The breakers not closed, as recorded. */
export async function readBreakers(
  redis: Redis | Cluster,
  keys: StoreKeys,
): Promise<BreakerRecord[]> {
  const raw = await redis.hgetall(keys.breakers);
  return Object.values(raw).flatMap((value) => {
    try {
      return [JSON.parse(value) as BreakerRecord];
    } catch {
      return [];
    }
  });
}
