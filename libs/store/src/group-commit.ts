/** Options for {@link groupCommit}. */
export interface GroupCommitOptions<T> {
  /** Most items in one call. */
  maxItems: number;
  /** Most weight (e.g. characters) in one call; an item heavier than this goes alone. */
  maxWeight?: number;
  weight?: (item: T) => number;
  /**
   * Most calls in flight at once. While that many are out, new items wait and go together in
   * the next call as soon as one returns: under load, batches grow by themselves instead of
   * the calls multiplying (each call costs a script run, a write and a reply).
   * @defaultValue 2
   */
  maxInFlight?: number;
  /**
   * How long the first item of a batch waits for company before the batch goes (0: only to the
   * end of the current turn of the event loop). For writes nobody waits on, such as outcomes
   * already delivered: fewer, larger calls at moderate rates.
   * @defaultValue 0
   */
  lingerMs?: number;
  /**
   * A linger (`lingerMs` above 0) ends early once this many items wait: the wait is for
   * company, and under load the company is already there. Waiting on regardless leaves the
   * store idle while a full batch sits in memory: at saturation, a 2 ms linger cost the gateway
   * a third of its acknowledgements and doubled their p99 (bench/log.md, "The linger, and
   * the audit trail's share").
   * @defaultValue `maxItems`
   */
  lingerMaxItems?: number;
}

/**
 * Group commit: the items given to `add()` during one turn of the event loop (or within
 * `lingerMs`, cut short once `lingerMaxItems` wait, or while `maxInFlight` calls are out) are
 * written by one call of `write`, in the order they came, split by `maxItems` and `maxWeight`.
 * `write` answers one result per item, in order; when it fails, every item of that call is
 * rejected with its error (none of them was written, as far as the caller knows).
 */
export function groupCommit<T, R>(
  write: (items: T[]) => Promise<R[]>,
  options: GroupCommitOptions<T>,
): (item: T) => Promise<R> {
  const maxWeight = options.maxWeight ?? Number.POSITIVE_INFINITY;
  const weight = options.weight ?? (() => 0);
  const maxInFlight = options.maxInFlight ?? 2;
  const lingerMs = options.lingerMs ?? 0;
  if (options.lingerMaxItems !== undefined && !(options.lingerMaxItems >= 1)) {
    throw new RangeError(`lingerMaxItems must be 1 or more (got ${options.lingerMaxItems})`);
  }
  // Only a timed linger is cut short: with none, the items of one turn stay together.
  const lingerMaxItems =
    lingerMs > 0
      ? Math.min(options.lingerMaxItems ?? options.maxItems, options.maxItems)
      : options.maxItems;
  let inFlight = 0;
  const pending: { item: T; resolve(result: R): void; reject(error: unknown): void }[] = [];
  let pendingWeight = 0;
  let scheduled = false;
  let lingerTimer: NodeJS.Timeout | undefined;

  const send = (batch: typeof pending) => {
    inFlight++;
    const done = () => {
      inFlight--;
      if (pending.length > 0 && !scheduled) flush();
    };
    write(batch.map((entry) => entry.item)).then(
      (results) => {
        done();
        batch.forEach((entry, i) => {
          if (i < results.length) entry.resolve(results[i] as R);
          else entry.reject(new Error('the store answered fewer results than items written'));
        });
      },
      (error: unknown) => {
        done();
        for (const entry of batch) entry.reject(error);
      },
    );
  };

  const flush = () => {
    scheduled = false;
    if (lingerTimer !== undefined) {
      clearTimeout(lingerTimer);
      lingerTimer = undefined;
    }
    while (pending.length > 0 && inFlight < maxInFlight) {
      let count = 0;
      let total = 0;
      while (count < pending.length && count < options.maxItems) {
        total += weight((pending[count] as (typeof pending)[number]).item);
        count++;
        if (total >= maxWeight) break;
      }
      pendingWeight -= total;
      send(pending.splice(0, count));
    }
  };

  return (item) =>
    new Promise<R>((resolve, reject) => {
      pending.push({ item, resolve, reject });
      pendingWeight += weight(item);
      if (inFlight >= maxInFlight) return;
      if (pending.length >= lingerMaxItems || pendingWeight >= maxWeight) {
        flush();
      } else if (!scheduled) {
        scheduled = true;
        if (lingerMs > 0) lingerTimer = setTimeout(flush, lingerMs);
        else setImmediate(flush);
      }
    });
}
