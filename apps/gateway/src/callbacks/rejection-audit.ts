import type { Actor, AuditLog, Logger } from '@callback-gateway/audit';
import { systemClock, type Clock, type TimerHandle } from '@callback-gateway/runtime';

/** What a rejection of an unknown sender says (the API error it was answered with). */
export interface AnonymousRejection {
  code: string;
  status: number;
  reason: string;
}

/** Options for {@link createRejectionAudit}. */
export interface RejectionAuditOptions {
  audit: AuditLog;
  /** The actor of the records (the callbacks' sender). */
  actor: Actor;
  /** Told once a window when more addresses send than are tracked. */
  logger: Pick<Logger, 'warn'>;
  /** How long rejections from one address are counted into one record. @defaultValue 60_000 */
  windowMs?: number;
  /**
   * Source addresses tracked at once; rejections from further ones in a window are counted
   * together, under the address `*`. Bounds memory, and the records a window can write.
   * @defaultValue 1_000
   */
  maxSources?: number;
  /** @defaultValue `systemClock` */
  clock?: Clock;
}

/** Records rejections of callbacks that name no registration, a few records per address. */
export interface RejectionAudit {
  /** Counts one rejection of a callback from `sourceAddress`. */
  note(sourceAddress: string, rejection: AnonymousRejection): void;
  /** Records what is still counted, and stops. Idempotent. */
  close(): void;
}

/** The source address under which addresses beyond `maxSources` are counted together. */
export const OTHER_SOURCES = '*';

interface Source {
  address: string;
  rejection: AnonymousRejection;
  /** Rejections counted since the last record. */
  pending: number;
  /** When the first of them happened. */
  since: number;
}

/**
 * The audit trail's view of callbacks to unknown or expired tokens. Anyone can post them, and
 * the audit stream is capped: recorded one by one, one client could push the whole history of
 * who did what out of it in a minute. So the first rejection from an address is recorded at
 * once, with its `source_address`; the further ones are counted and recorded as one record per
 * address per window, with their `count` and the time of the first (`since`). An address quiet
 * for a whole window is forgotten. Every rejection is still counted in the metrics.
 */
export function createRejectionAudit(options: RejectionAuditOptions): RejectionAudit {
  const windowMs = options.windowMs ?? 60_000;
  const maxSources = options.maxSources ?? 1_000;
  const clock = options.clock ?? systemClock;
  const sources = new Map<string, Source>();
  let overflowLogged = false;
  let closed = false;

  const record = (source: Source, count: number, since: number) => {
    options.audit.record({
      type: 'callback.rejected',
      actor: options.actor,
      correlation: {},
      data: {
        ...source.rejection,
        source_address: source.address,
        count,
        since: new Date(since).toISOString(),
      },
    });
  };

  const sweep = () => {
    for (const [key, source] of sources) {
      if (source.pending === 0) {
        sources.delete(key);
        continue;
      }
      record(source, source.pending, source.since);
      source.pending = 0;
    }
    overflowLogged = false;
  };
  const timer: TimerHandle = clock.setInterval(sweep, windowMs);

  return {
    note(sourceAddress, rejection) {
      if (closed) return;
      const now = clock.now();
      let address = sourceAddress;
      let key = `${rejection.code} ${address}`;
      if (!sources.has(key) && sources.size >= maxSources) {
        address = OTHER_SOURCES;
        key = `${rejection.code} ${address}`;
        if (!overflowLogged) {
          overflowLogged = true;
          options.logger.warn(
            { maxSources, code: rejection.code },
            `callbacks from more than ${maxSources} addresses were refused (${rejection.code}) this minute: the audit trail counts the rest together, as source_address "${OTHER_SOURCES}"`,
          );
        }
      }
      const source = sources.get(key);
      if (!source) {
        const created = { address, rejection, pending: 0, since: now };
        sources.set(key, created);
        record(created, 1, now);
        return;
      }
      if (source.pending === 0) source.since = now;
      source.pending++;
    },
    close() {
      if (closed) return;
      closed = true;
      clock.clearInterval(timer);
      for (const source of sources.values()) {
        if (source.pending > 0) record(source, source.pending, source.since);
      }
      sources.clear();
    },
  };
}
