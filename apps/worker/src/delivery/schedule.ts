/** Retry policy of deliveries (`DELIVERY_RETRY_SCHEDULE` and friends). */
export interface RetryPolicy {
  /**
   * Delay before each attempt, in seconds: the first entry is the first attempt's (normally
   * 0: at once), the next ones the retries'. Its length is the maximum number of attempts.
   * @defaultValue `[0, 5, 30, 120, 600, 1800, 3600, 10800, 21600]`
   */
  scheduleSeconds: readonly number[];
  /** Jitter, as a fraction of each delay. @defaultValue 0.2 */
  jitter?: number;
  /** Attempts a 4xx answer (other than 410 and 429) gets before it is dead-lettered. @defaultValue 3 */
  maxClientErrorAttempts?: number;
  /** Bounds of a `Retry-After` the pipeline asks for, in seconds. @defaultValue [1, 3600] */
  retryAfterBoundsSeconds?: readonly [number, number];
}

/** The default schedule: immediately, 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h. */
export const DEFAULT_SCHEDULE_SECONDS = [0, 5, 30, 120, 600, 1800, 3600, 10800, 21600] as const;

/** Milliseconds to wait before attempt `attempt + 1`, after `attempt` failed (1-based). */
export function retryDelayMs(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const seconds = policy.scheduleSeconds[attempt] ?? policy.scheduleSeconds.at(-1) ?? 0;
  const jitter = policy.jitter ?? 0.2;
  const factor = 1 + jitter * (2 * random() - 1);
  return Math.max(0, Math.round(seconds * 1000 * factor));
}

/**
 * Parses a `Retry-After` header (seconds or an HTTP date) and clamps it; undefined when absent
 * or unreadable.
 */
export function retryAfterMs(
  header: string | string[] | undefined,
  policy: RetryPolicy,
  now: number = Date.now(),
): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  let seconds: number;
  if (/^\s*\d+\s*$/.test(value)) seconds = Number(value);
  else {
    const date = Date.parse(value);
    if (Number.isNaN(date)) return undefined;
    seconds = (date - now) / 1000;
  }
  const [low, high] = policy.retryAfterBoundsSeconds ?? [1, 3600];
  return Math.round(Math.min(high, Math.max(low, seconds)) * 1000);
}
