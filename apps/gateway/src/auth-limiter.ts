/** Options of {@link createFailedAuthLimiter}. */
export interface FailedAuthLimiterOptions {
  /** Failed attempts one client address may make per window. @defaultValue 20 */
  maxFailures?: number;
  /** @defaultValue 60_000 */
  windowMs?: number;
  /** Addresses tracked at most (oldest forgotten first): memory stays bounded. @defaultValue 10_000 */
  maxTracked?: number;
  now?: () => number;
}

/**
 * Counts failed authentications on the bearer-authenticated API per client address: once an
 * address has `maxFailures` in a window, its requests that fail authentication are answered 429
 * instead of 401 until the window has passed. It is consulted only for requests whose credentials
 * failed (see `api-guard.ts`): a request with a valid token is never refused because of failures
 * from its address, which may be a shared proxy's. Callback URLs are not limited this way: a
 * parser posts for many customers from few addresses, and a callback token has 256 random bits
 * (guessing is counted in metrics and audited instead).
 */
export function createFailedAuthLimiter(options: FailedAuthLimiterOptions = {}) {
  const maxFailures = options.maxFailures ?? 20;
  const windowMs = options.windowMs ?? 60_000;
  const maxTracked = options.maxTracked ?? 10_000;
  const now = options.now ?? (() => Date.now());
  const failures = new Map<string, number[]>();

  const recent = (address: string) => {
    const since = now() - windowMs;
    const times = (failures.get(address) ?? []).filter((at) => at > since);
    if (times.length === 0) failures.delete(address);
    else failures.set(address, times);
    return times;
  };

  return {
    /** Seconds until `address` may try again, or 0 when it may. */
    retryAfterSeconds(address: string): number {
      const times = recent(address);
      if (times.length < maxFailures) return 0;
      return Math.max(1, Math.ceil(((times[0] ?? now()) + windowMs - now()) / 1000));
    },
    /** Counts a failed attempt of `address`; true when that one reached the limit. */
    fail(address: string): boolean {
      const times = recent(address);
      times.push(now());
      failures.delete(address);
      failures.set(address, times.slice(-maxFailures));
      if (failures.size > maxTracked) {
        const oldest = failures.keys().next().value;
        if (oldest !== undefined) failures.delete(oldest);
      }
      return times.length === maxFailures;
    },
    maxFailures,
    windowMs,
  };
}

export type FailedAuthLimiter = ReturnType<typeof createFailedAuthLimiter>;
