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
