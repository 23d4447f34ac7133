/** Runs `task` once fewer than the limit's number of tasks are running. */
export type Limit = <T>(task: () => Promise<T>) => Promise<T>;

/** A concurrency limit shared by every job of a worker: at most `size` tasks at once, the
 * others wait their turn in order. */
export function createLimit(size: number): Limit {
  let running = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    running--;
    const next = waiting.shift();
    if (next) {
      running++;
      next();
    }
  };
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= size) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await task();
    } finally {
      release();
    }
  };
}

/** A concurrency limit per key (an origin): see {@link createKeyedLimit}. */
export interface KeyedLimit {
  /** A place among `key`'s tasks in flight: resolves to its release once one is free
   * (waiters are served in the order they came). */
  acquire(key: string): Promise<() => void>;
  /** Tasks of `key` in flight now and waiting for a place, and when a place of it was last
   * given back (or its first taken). */
  load(key: string): { inFlight: number; waiting: number; lastReleaseAt: number };
}

interface KeyState {
  inFlight: number;
  waiting: (() => void)[];
  lastReleaseAt: number;
}

/** At most `size` tasks in flight per key; keys with nothing in flight or waiting are
 * forgotten. */
export function createKeyedLimit(size: number, now: () => number = Date.now): KeyedLimit {
  const keys = new Map<string, KeyState>();
  const releaser = (key: string, state: KeyState) => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      state.lastReleaseAt = now();
      const next = state.waiting.shift();
      // The place passes from the releasing task to the next one: in flight stays the same.
      if (next) return next();
      state.inFlight--;
      if (state.inFlight === 0) keys.delete(key);
    };
  };
  return {
    acquire(key) {
      let state = keys.get(key);
      if (!state) {
        state = { inFlight: 0, waiting: [], lastReleaseAt: now() };
        keys.set(key, state);
      }
      const current = state;
      if (current.inFlight < size) {
        current.inFlight++;
        return Promise.resolve(releaser(key, current));
      }
      return new Promise((resolve) => current.waiting.push(() => resolve(releaser(key, current))));
    },
    load(key) {
      const state = keys.get(key);
      return {
        inFlight: state?.inFlight ?? 0,
        waiting: state?.waiting.length ?? 0,
        lastReleaseAt: state?.lastReleaseAt ?? now(),
      };
    },
  };
}
