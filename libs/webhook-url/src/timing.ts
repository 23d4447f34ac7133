import type { Clock } from '@callback-gateway/runtime';

/** The reason an aborted signal carries, or a generic abort error. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}

/**
 * Settles with `promise`, or rejects with the signal's reason as soon as it aborts, whichever
 * comes first. The promise itself is not cancelled (some work, like the ngrok SDK's native
 * connect, cannot be): callers that care handle its late result.
 */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Waits `ms` on `clock`; rejects early (and clears the timer) when `signal` aborts. */
export function sleep(ms: number, clock: Clock, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(abortReason(signal as AbortSignal));
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * An AbortController that aborts after `ms` on `clock` (with `reason()`), and also when `parent`
 * aborts. Call `dispose()` when done: it clears the timer and detaches from the parent.
 */
export function deadlineController(
  ms: number,
  clock: Clock,
  reason: () => unknown,
  parent?: AbortSignal,
): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const handle = clock.setTimeout(() => controller.abort(reason()), ms);
  const onParentAbort = () => controller.abort(parent ? abortReason(parent) : undefined);
  if (parent?.aborted) onParentAbort();
  else parent?.addEventListener('abort', onParentAbort, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      clock.clearTimeout(handle);
      parent?.removeEventListener('abort', onParentAbort);
    },
  };
}
