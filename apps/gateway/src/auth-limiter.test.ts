import { describe, expect, it } from 'vitest';
import { createFailedAuthLimiter } from './auth-limiter.js';

describe('createFailedAuthLimiter', () => {
  it('limits an address at its nth failure in a window, says so once, and lets it go after', () => {
    let now = 0;
    const limiter = createFailedAuthLimiter({ maxFailures: 3, windowMs: 10_000, now: () => now });
    expect([limiter.fail('a'), limiter.fail('a')]).toEqual([false, false]);
    expect(limiter.retryAfterSeconds('a')).toBe(0);
    expect(limiter.fail('a')).toBe(true);
    expect(limiter.retryAfterSeconds('a')).toBe(10);
    expect(limiter.retryAfterSeconds('b')).toBe(0);
    now = 4_000;
    expect(limiter.retryAfterSeconds('a')).toBe(6);
    now = 10_001;
    expect(limiter.retryAfterSeconds('a')).toBe(0);
  });
});
