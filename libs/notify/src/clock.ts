/** Time as the notifier sees it: injectable so tests can move it by hand. */
export interface NotifierClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Schedules `callback` after `ms`; the handle goes to {@link NotifierClock.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock. Its timers are unref'd: pending notifications never keep a process alive. */
export const systemClock: NotifierClock = {
  now: () => Date.now(),
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return timer;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
