import type { FakeJobState } from './types.js';

/**
 * The event each job state sends, by name. The SDK's current docs name them
 * `parse.pending`, `parse.running`, `parse.success`, `parse.partial_success`, `parse.error` and
 * `parse.cancelled`; the official Python client's older docs call two of them `parse.failure`
 * and `parse.partial`. A webhook gets the names it lists (both, if it lists both); one that lists
 * none gets every event under today's names.
 */
const NAMES: Record<FakeJobState, { current: string; older?: string }> = {
  pending: { current: 'parse.pending' },
  running: { current: 'parse.running' },
  succeeded: { current: 'parse.success' },
  partial: { current: 'parse.partial_success', older: 'parse.partial' },
  failed: { current: 'parse.error', older: 'parse.failure' },
  cancelled: { current: 'parse.cancelled' },
};

/** The event names a webhook subscribed to `events` (undefined = all) gets for `state`. */
export function eventNames(state: FakeJobState, events: readonly string[] | undefined): string[] {
  const { current, older } = NAMES[state];
  if (events === undefined) return [current];
  return [current, older].filter(
    (name): name is string => name !== undefined && events.includes(name),
  );
}
