/** Stable codes of notifier errors (documented in the README of this library). */
export const NOTIFY_ERROR_CODES = [
  'NOTIFY_WEBHOOK_SECRET_REQUIRED',
  'NOTIFY_WEBHOOK_SECRET_INVALID',
  'NOTIFY_TARGET_REFUSED',
] as const;
export type NotifyErrorCode = (typeof NOTIFY_ERROR_CODES)[number];

/**
 * A notifier that cannot be built as configured. Raised by `createNotifier` (and reported by
 * `checkNotifySettings` as settings problems) at start-up, never while notifying: a running
 * notifier counts and logs its failures instead of throwing.
 */
export class NotifyError extends Error {
  constructor(
    readonly code: NotifyErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NotifyError';
  }
}
