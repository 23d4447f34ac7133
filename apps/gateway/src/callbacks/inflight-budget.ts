/** Options for {@link createInflightBudget}. */
export interface InflightBudgetOptions {
  /** Most bytes held at once (`GATEWAY_CALLBACK_INFLIGHT_BYTES`). */
  limitBytes: number;
  /** Told the bytes held after every change (the metric). */
  onChange?: (heldBytes: number) => void;
}

/** The bytes one callback holds; given back once, whatever ends the request. */
export interface BodyHold {
  /** Adds `bytes` to this hold. False, and nothing added, when the budget cannot take them or
   * the hold was released. */
  add(bytes: number): boolean;
  /** Gives back every byte of this hold. Idempotent. */
  release(): void;
}

/** A bound on the bytes of callback bodies held in memory at once. */
export interface InflightBudget {
  readonly limitBytes: number;
  /** Bytes held now, by every open hold. */
  readonly heldBytes: number;
  /** A new, empty hold for one request. */
  open(): BodyHold;
}

/**
 * Bounds the memory callback bodies take: each request holds its body's bytes (its declared
 * length up front, or its chunks as they arrive) from before the body is read until its answer
 * is sent or its connection closes. A request that would take the total past the limit is
 * refused instead, so memory stays bounded however many senders arrive at once.
 */
export function createInflightBudget(options: InflightBudgetOptions): InflightBudget {
  const { limitBytes, onChange } = options;
  let heldBytes = 0;
  return {
    limitBytes,
    get heldBytes() {
      return heldBytes;
    },
    open() {
      let mine = 0;
      let released = false;
      return {
        add(bytes) {
          if (released || heldBytes + bytes > limitBytes) return false;
          mine += bytes;
          heldBytes += bytes;
          if (bytes > 0) onChange?.(heldBytes);
          return true;
        },
        release() {
          if (released) return;
          released = true;
          heldBytes -= mine;
          if (mine > 0) onChange?.(heldBytes);
          mine = 0;
        },
      };
    },
  };
}
