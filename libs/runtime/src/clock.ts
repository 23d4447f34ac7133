/** An opaque timer handle (whatever the clock's `setTimeout`/`setInterval` return). */
export type TimerHandle = unknown;

/**
 * Time and timers, passed in so that tests can see (and drive) every timer a library arms.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Schedules `callback` after `ms`; the handle goes to {@link Clock.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** Runs `callback` every `ms`; the handle goes to {@link Clock.clearInterval}. */
  setInterval(callback: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle): void;
}

/**
 * Lets a timer of the system clock not keep the process alive on its own; a handle without
 * `unref` (a test clock's) is returned as it is.
 */
export function unrefTimer<T extends TimerHandle>(handle: T): T {
  (handle as { unref?: () => unknown } | undefined)?.unref?.();
  return handle;
}

/**
 * The real clock. Timeouts (deadlines, backoff waits, connect bounds) keep the process alive
 * while a caller awaits them (a command-line `resolve` must not exit half-way): whoever arms one
 * clears it when its operation ends, or unrefs it with {@link unrefTimer}. Intervals (health
 * checks) are unref'd: they never keep the process alive on their own.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  setInterval: (callback, ms) => unrefTimer(setInterval(callback, ms)),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};
