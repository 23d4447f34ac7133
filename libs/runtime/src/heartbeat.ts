import { hostname } from 'node:os';
import type { Logger } from '@callback-gateway/audit';
import type { RedisClient } from './redis.js';

/** Heartbeat thresholds (the worker's are `WORKER_HEARTBEAT_*`). */
export interface HeartbeatOptions {
  redis: RedisClient;
  /** The sorted set of this kind of process (`{cbgw}:workers`, `{cbgw}:gateways`). */
  key: string;
  logger: Logger;
  /** How often the worker records that it is alive. @defaultValue 5_000 */
  intervalMs?: number;
  /** Without a successful beat for this long the worker reports itself degraded (not ready). @defaultValue 15_000 */
  degradedAfterMs?: number;
  /** ...and for this long, dead (`/healthz` fails, so an orchestrator restarts it). @defaultValue 120_000 */
  deadAfterMs?: number;
  /** @defaultValue `<host>-<pid>` */
  id?: string;
  now?: () => number;
}

/** A process's view of its own liveness. */
export interface Heartbeat {
  readonly id: string;
  /** `ok`, `degraded` or `dead`, with the age of the last successful beat. */
  status(): { state: 'ok' | 'degraded' | 'dead'; lastBeatAgeMs: number };
  close(): void;
}

/**
 * Records `<id> -> now` in a sorted set every interval (so operators, the dashboard and the
 * reconciler see which processes are alive), and judges the process by the age of its last
 * successful beat: one that cannot reach Redis, or whose event loop is stuck, goes `degraded`
 * before `dead`.
 */
export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const now = options.now ?? (() => Date.now());
  const intervalMs = options.intervalMs ?? 5_000;
  const degradedAfterMs = options.degradedAfterMs ?? 15_000;
  const deadAfterMs = options.deadAfterMs ?? 120_000;
  const id = options.id ?? `${hostname()}-${process.pid}`;
  const key = options.key;
  let lastBeat = now();
  let state: 'ok' | 'degraded' | 'dead' = 'ok';

  const judge = () => {
    const age = now() - lastBeat;
    const next = age >= deadAfterMs ? 'dead' : age >= degradedAfterMs ? 'degraded' : 'ok';
    if (next !== state) {
      options.logger[next === 'ok' ? 'info' : 'warn'](
        `heartbeat: ${state} -> ${next} (last successful beat ${Math.round(age / 1000)} s ago)`,
      );
      state = next;
    }
    return { state, lastBeatAgeMs: age };
  };

  const beat = async () => {
    try {
      const at = now();
      await options.redis
        .multi()
        .zadd(key, at, id)
        .zremrangebyscore(key, 0, at - deadAfterMs)
        .exec();
      lastBeat = at;
    } catch {
      // Judged by age below; connectRedis already said what is missing.
    }
    judge();
  };
  // The first beat waits for the connection: sent before it is up (a client that fails fast
  // while connecting, a cluster client still reading its slot map), it would be lost, and the
  // process would look absent for a whole interval.
  if (options.redis.status === 'ready') void beat();
  else options.redis.once('ready', () => void beat());
  const timer = setInterval(() => void beat(), intervalMs);
  timer.unref();
  return {
    id,
    status: judge,
    close() {
      clearInterval(timer);
      void options.redis.zrem(key, id).catch(() => undefined);
    },
  };
}
