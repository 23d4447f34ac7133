import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  it('with full jitter (the default), draws from 0 to a step of 200 ms doubling up to 5 s', () => {
    expect(backoffDelay(0, {}, () => 0)).toBe(0);
    expect(backoffDelay(0, {}, () => 0.999)).toBe(199);
    expect(backoffDelay(3, {}, () => 0.5)).toBe(800);
    expect(backoffDelay(10, {}, () => 0.999)).toBe(4_995);
  });

  it('with full jitter, stays below its step and under the cap', () => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const delay = backoffDelay(attempt, { baseMs: 1_000, capMs: 60_000 });
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(Math.min(60_000, 1_000 * 2 ** attempt));
    }
  });

  it('with equal jitter, stays within half and all of its step, and is capped', () => {
    const equal = { baseMs: 100, capMs: 5_000, jitter: 'equal' } as const;
    expect(backoffDelay(1, equal, () => 0)).toBe(100);
    expect(backoffDelay(1, equal, () => 1)).toBe(200);
    expect(backoffDelay(3, equal, () => 1)).toBe(800);
    for (let attempt = 0; attempt < 100; attempt++) {
      const delay = backoffDelay(attempt, equal);
      expect(delay).toBeLessThanOrEqual(5_000);
      expect(delay).toBeGreaterThanOrEqual(Math.min(5_000, 100 * 2 ** attempt) / 2);
    }
  });

  it('without jitter, waits the step itself', () => {
    const none = { baseMs: 100, capMs: 5_000, jitter: 'none' } as const;
    expect([1, 2, 3, 6, 7, 1_000].map((attempt) => backoffDelay(attempt, none))).toEqual([
      200, 400, 800, 5_000, 5_000, 5_000,
    ]);
  });

  it('treats a negative attempt as the first and a huge one as capped', () => {
    expect(backoffDelay(-3, { jitter: 'none' })).toBe(200);
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, { capMs: 30_000, jitter: 'none' })).toBe(30_000);
  });
});
