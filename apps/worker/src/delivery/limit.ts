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
  /**
   * A place among `key`'s tasks in flight: resolves to its release once one is free (waiters
   * are served in the order they came), or to undefined after `maxWaitMs` without one.
   */
  acquire(key: string, maxWaitMs: number): Promise<(() => void) | undefined>;
  /** Tasks of `key` in flight now, and waiting for a place. */
  load(key: string): { inFlight: number; waiting: number };
}

interface KeyState {
  inFlight: number;
  waiting: { grant: () => void; timer: NodeJS.Timeout }[];
}

/** At most `size` tasks in flight per key; keys with nothing in flight or waiting are
 * forgotten. */
export function createKeyedLimit(size: number): KeyedLimit {
  const keys = new Map<string, KeyState>();
  const releaser = (key: string, state: KeyState) => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = state.waiting.shift();
      if (next) {
        clearTimeout(next.timer);
        next.grant();
        return;
      }
      state.inFlight--;
      if (state.inFlight === 0) keys.delete(key);
    };
  };
  return {
    acquire(key, maxWaitMs) {
      let state = keys.get(key);
      if (!state) {
        state = { inFlight: 0, waiting: [] };
        keys.set(key, state);
      }
      if (state.inFlight < size) {
        state.inFlight++;
        return Promise.resolve(releaser(key, state));
      }
      if (maxWaitMs <= 0) return Promise.resolve(undefined);
      const current = state;
      return new Promise((resolve) => {
        const waiter = {
          // The place passes from the releasing task to this one: in flight stays the same.
          grant: () => resolve(releaser(key, current)),
          timer: setTimeout(() => {
            const index = current.waiting.indexOf(waiter);
            if (index >= 0) current.waiting.splice(index, 1);
            resolve(undefined);
          }, maxWaitMs),
        };
        waiter.timer.unref();
        current.waiting.push(waiter);
      });
    },
    load(key) {
      const state = keys.get(key);
      return { inFlight: state?.inFlight ?? 0, waiting: state?.waiting.length ?? 0 };
    },
  };
}
