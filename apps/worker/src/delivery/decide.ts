import { retryAfterMs, retryDelayMs, type RetryPolicy } from './schedule.js';
import type { SendResult } from './send.js';

/** What to do after an attempt. */
export type Decision =
  | { action: 'delivered' }
  | { action: 'retry'; delayMs: number; reason: string }
  | { action: 'dead_letter'; reason: string; gone?: boolean };

/** Counts against the destination's breaker: the pipeline is failing, not the request. */
export function isOutage(result: SendResult): boolean {
  return (
    result.kind === 'network_error' ||
    (result.kind === 'http_error' && (result.status >= 500 || result.status === 408))
  );
}

/**
 * What an attempt's result means for the delivery: delivered; retried after a delay (the
 * schedule's, or the pipeline's `Retry-After`); or dead-lettered (the schedule is spent, the
 * pipeline said `410 Gone`, kept answering another 4xx, or the outbound policy refuses it).
 */
export function decide(
  result: SendResult,
  attempt: number,
  deps: { retry: RetryPolicy; random?: (() => number) | undefined },
  now: number,
): Decision {
  const maxAttempts = deps.retry.scheduleSeconds.length;
  const schedule = () => retryDelayMs(deps.retry, attempt, deps.random);
  const retryOrDeadLetter = (reason: string, delayMs: number): Decision =>
    attempt >= maxAttempts
      ? { action: 'dead_letter', reason: `${reason}; gave up after ${attempt} attempts` }
      : { action: 'retry', delayMs, reason };
  switch (result.kind) {
    case 'delivered':
      return { action: 'delivered' };
    case 'refused':
      return {
        action: 'dead_letter',
        reason: `destination refused by the outbound policy: ${result.detail}`,
      };
    case 'network_error':
      return retryOrDeadLetter(result.detail, schedule());
    case 'http_error': {
      const { status } = result;
      if (status === 410) {
        return {
          action: 'dead_letter',
          reason: 'the pipeline answered 410 Gone: deliveries to this registration stopped',
          gone: true,
        };
      }
      if (status === 429 || status === 503) {
        const asked = retryAfterMs(result.retryAfter, deps.retry, now);
        return retryOrDeadLetter(result.detail, asked ?? schedule());
      }
      if (status >= 400 && status < 500 && status !== 408) {
        const limit = deps.retry.maxClientErrorAttempts ?? 3;
        if (attempt >= limit) {
          return {
            action: 'dead_letter',
            reason: `${result.detail}; a ${status} was answered ${attempt} times`,
          };
        }
      }
      return retryOrDeadLetter(result.detail, schedule());
    }
  }
}
