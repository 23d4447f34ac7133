import type { Ledger, SendOutcome } from './ledger.js';
import type { Registration } from './stack.js';
import { sleep } from './stack.js';

/** A paced, bounded load of parser callbacks. */
export interface LoadOptions {
  /** Concurrent senders (each waits for its answer before its next send). */
  senders: number;
  /** Callbacks per second, all senders together. */
  ratePerSecond: number;
  /** Stop after this long. */
  durationMs: number;
  /** Stop after this many sends, if earlier. */
  maxCount?: number;
  /**
   * How long a sender waits for an answer before counting an error.
   * @defaultValue 5_000
   */
  timeoutMs?: number;
}

/** A running load; `done` resolves when every sender has stopped. */
export interface Load {
  done: Promise<void>;
  stop(): void;
}

/** `senders × ratePerSecond × duration` in words, for the report. */
export function describeLoad(options: LoadOptions): string {
  const seconds = Math.round(options.durationMs / 1000);
  return `${options.senders} senders, ${options.ratePerSecond}/s, ${seconds} s`;
}

let runSeq = 0;

/**
 * Drives non-final `parse.running` events with unique ids into `registrations` (round robin),
 * through the gateway at `gatewayUrl`, and records each answer in `ledger`. Senders never repeat
 * an event: a send that saw an error is an unacknowledged callback, not one to account for.
 */
export function startLoad(
  gatewayUrl: string,
  registrations: readonly Registration[],
  ledger: Ledger,
  options: LoadOptions,
): Load {
  const run = `r${Date.now().toString(36)}${(runSeq++).toString(36)}`;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const interval = (1000 * options.senders) / options.ratePerSecond;
  const started = Date.now();
  const deadline = started + options.durationMs;
  let sent = 0;
  let stopped = false;
  const more = () =>
    !stopped &&
    Date.now() < deadline &&
    (options.maxCount === undefined || sent < options.maxCount);

  const sendOne = async (registration: Registration, eventId: string) => {
    const at = Date.now();
    let outcome: SendOutcome = 'error';
    let status: number | undefined;
    let callbackId: string | undefined;
    try {
      const response = await fetch(`${gatewayUrl}${registration.callbackPath}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'llamaindex-webhook-service/1.0',
        },
        body: JSON.stringify({
          event_id: eventId,
          event_type: 'parse.running',
          timestamp: at / 1000,
          data: { job_id: `job-${registration.id}` },
        }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = response.status;
      const body = (await response.json().catch(() => ({}))) as {
        callback_id?: string;
        duplicate?: boolean;
      };
      if (status === 202 && body.callback_id) {
        outcome = 'accepted';
        callbackId = body.callback_id;
      } else if (status === 200 && body.duplicate) outcome = 'duplicate';
      else if (status === 503) outcome = 'unavailable';
      else outcome = 'refused';
    } catch {
      outcome = 'error';
    }
    ledger.recordSend({ eventId, path: registration.path, outcome, status, callbackId, at });
  };

  const sender = async (index: number) => {
    // Spread the senders over one interval so the load is even, not in bursts.
    let next = started + (interval * index) / options.senders;
    while (more()) {
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      if (!more()) break;
      const n = sent++;
      const registration = registrations[n % registrations.length];
      if (!registration) throw new Error('the load needs at least one registration');
      await sendOne(registration, `${run}-${n}`);
      next = Math.max(next + interval, Date.now() - interval);
    }
  };

  const done = Promise.all(Array.from({ length: options.senders }, (_, i) => sender(i))).then(
    () => undefined,
  );
  return {
    done,
    stop: () => {
      stopped = true;
    },
  };
}
