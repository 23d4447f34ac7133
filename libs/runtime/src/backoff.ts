/**
 * How a delay is drawn from its step (the step being `min(capMs, baseMs * 2^attempt)`):
 * - `full`: anywhere between 0 and the step; spreads retrying processes the most.
 * - `equal`: between half and all of the step; spreads them while never retrying at once.
 * - `none`: the step itself, for one process retrying alone, where lock-step is no risk.
 */
export type BackoffJitter = 'full' | 'equal' | 'none';

/** Settings of a capped exponential backoff. */
export interface BackoffOptions {
  /**
   * The step of attempt 0; each attempt doubles it.
   * @defaultValue 200
   */
  baseMs?: number;
  /**
   * Largest step.
   * @defaultValue 5_000
   */
  capMs?: number;
  /** @defaultValue `'full'` */
  jitter?: BackoffJitter;
}

/**
 * Capped exponential backoff with jitter, so that many processes retrying together (a fleet
 * restarted at once, every client of a Redis that came back) spread out instead of retrying
 * in step. The delay of `attempt` (0 or more) is drawn from `min(capMs, baseMs * 2^attempt)`
 * as `jitter` says, with `random` in [0, 1).
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const base = options.baseMs ?? 200;
  const cap = options.capMs ?? 5_000;
  // Bounded so the step stays a finite number however many attempts an outage counts.
  const step = Math.min(cap, base * 2 ** Math.min(Math.max(attempt, 0), 30));
  switch (options.jitter ?? 'full') {
    case 'full':
      return Math.floor(random() * step);
    case 'equal':
      return Math.round(step / 2 + (random() * step) / 2);
    case 'none':
      return step;
  }
}
