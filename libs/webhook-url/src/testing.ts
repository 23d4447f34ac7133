import type { Clock, TimerHandle } from '@callback-gateway/runtime';
import type { NgrokForward, NgrokForwardConfig, NgrokListener } from './ngrok-sdk.js';
import type { LookupAddress, LookupFunction } from './verify.js';

/** A listener with the SDK's shapes (`url()`, `close()`), whose state tests can see. */
export interface FakeNgrokListener extends NgrokListener {
  readonly config: NgrokForwardConfig;
  readonly closed: boolean;
}

/** What {@link fakeNgrok} does on the next `forward()` call. */
export type FakeForwardStep =
  | { url: string }
  | { error: Error }
  /** Never settles until `release()` (a connect whose packets are dropped). */
  | { hang: true };

/** A fake `@ngrok/ngrok` `forward` with the SDK's real shapes. */
export interface FakeNgrok {
  forward: NgrokForward;
  /** Every config `forward()` was called with (the SDK's option names). */
  readonly calls: NgrokForwardConfig[];
  readonly listeners: FakeNgrokListener[];
  /** Queues what the next calls do; with an empty queue a call opens `defaultUrl`. */
  next(...steps: FakeForwardStep[]): void;
  /** Calls the `onStatusChange` of the latest call, as the SDK does (`"closed"`,
   * `"connected"`). */
  emitStatus(status: 'connected' | 'closed'): void;
  /** Changes the URL the latest listener reports (as after an SDK reconnect). */
  setUrl(url: string | null): void;
  /** Rejects every hanging call (as the SDK does when its socket finally fails). */
  release(): void;
}

/**
 * An error shaped like the SDK's: `code: 'GenericFailure'`, and `errorCode` when the message
 * ends in `error_code: ERR_NGROK_...`.
 */
export function ngrokSdkError(message: string): Error {
  const error = Object.assign(new Error(message), { code: 'GenericFailure' });
  const match = /error_code: (ERR_NGROK_\d+)$/.exec(message);
  return match ? Object.assign(error, { errorCode: match[1] }) : error;
}

/** Creates a {@link FakeNgrok}. */
export function fakeNgrok(defaultUrl = 'https://fake-tunnel.ngrok-free.app'): FakeNgrok {
  const calls: NgrokForwardConfig[] = [];
  const listeners: FakeNgrokListener[] = [];
  const steps: FakeForwardStep[] = [];
  const hanging: ((error: Error) => void)[] = [];
  let currentUrl: string | null = defaultUrl;
  return {
    calls,
    listeners,
    forward(config) {
      calls.push(config);
      const step = steps.shift() ?? { url: defaultUrl };
      if ('error' in step) return Promise.reject(step.error);
      if ('hang' in step) {
        return new Promise<NgrokListener>((_, reject) => hanging.push(reject));
      }
      currentUrl = step.url;
      let closed = false;
      const listener: FakeNgrokListener = {
        config,
        get closed() {
          return closed;
        },
        url: () => (closed ? null : currentUrl),
        close: async () => {
          closed = true;
        },
      };
      listeners.push(listener);
      return Promise.resolve(listener);
    },
    next(...more) {
      steps.push(...more);
    },
    emitStatus(status) {
      calls[calls.length - 1]?.onStatusChange?.(status);
    },
    setUrl(url) {
      currentUrl = url;
    },
    release() {
      for (const reject of hanging.splice(0)) {
        reject(ngrokSdkError('failed to connect session: tls handshake error'));
      }
    },
  };
}

/** One timer armed on a {@link ManualClock}. */
export interface ArmedTimer {
  kind: 'timeout' | 'interval';
  ms: number;
  dueAt: number;
  callback: () => void;
  cleared: boolean;
}

/** A clock that only moves when told to, and remembers every timer armed on it. */
export interface ManualClock extends Clock {
  readonly timers: ArmedTimer[];
  /** Moves time forward, firing due timers in order (intervals re-arm). */
  advance(ms: number): void;
}

/** Creates a {@link ManualClock} starting at `start` (ms since the epoch). */
export function manualClock(start = Date.UTC(2025, 0, 1)): ManualClock {
  let now = start;
  const timers: ArmedTimer[] = [];
  const arm = (kind: ArmedTimer['kind'], callback: () => void, ms: number): TimerHandle => {
    const timer = { kind, ms, dueAt: now + ms, callback, cleared: false };
    timers.push(timer);
    return timer;
  };
  const clear = (handle: TimerHandle) => {
    if (handle && typeof handle === 'object' && 'cleared' in handle)
      (handle as ArmedTimer).cleared = true;
  };
  return {
    timers,
    now: () => now,
    setTimeout: (callback, ms) => arm('timeout', callback, ms),
    setInterval: (callback, ms) => arm('interval', callback, ms),
    clearTimeout: clear,
    clearInterval: clear,
    advance(ms) {
      const until = now + ms;
      for (;;) {
        const due = timers
          .filter((timer) => !timer.cleared && timer.dueAt <= until)
          .sort((a, b) => a.dueAt - b.dueAt)[0];
        if (!due) break;
        now = Math.max(now, due.dueAt);
        if (due.kind === 'interval') due.dueAt += Math.max(1, due.ms);
        else due.cleared = true;
        due.callback();
      }
      now = until;
    },
  };
}

/** A lookup that answers from a table (hosts missing from it do not exist). */
export function staticLookup(
  table: Readonly<Record<string, readonly string[]>> | ((host: string) => readonly string[]),
): LookupFunction {
  return async (host) => {
    const addresses = typeof table === 'function' ? table(host) : table[host];
    if (!addresses || addresses.length === 0) {
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    }
    return addresses.map((address): LookupAddress => ({
      address,
      family: address.includes(':') ? 6 : 4,
    }));
  };
}
