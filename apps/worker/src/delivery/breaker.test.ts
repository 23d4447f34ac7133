import { describe, expect, it } from 'vitest';
import { Breakers, type BreakerTransition } from './breaker.js';

describe('Breakers', () => {
  const clock = () => {
    let now = 1_000_000;
    return { now: () => now, advance: (ms: number) => void (now += ms) };
  };

  it('opens on the failure ratio within the window, and forgets results older than it', () => {
    const time = clock();
    const transitions: BreakerTransition[] = [];
    const breakers = new Breakers(
      { consecutiveFailures: 1_000, failureRatio: 0.5, minimumRequests: 20, windowMs: 60_000 },
      (t) => transitions.push(t),
      time.now,
    );
    const origin = 'https://pipeline.example.com';
    // 19 failures (one short of the minimum) a minute ago: out of the window by now.
    for (let i = 0; i < 19; i++) breakers.record(origin, false);
    expect(breakers.state(origin)).toBe('closed');
    time.advance(61_000);
    for (let i = 0; i < 10; i++) breakers.record(origin, true);
    for (let i = 0; i < 9; i++) breakers.record(origin, false);
    expect(breakers.state(origin)).toBe('closed');
    breakers.record(origin, false);
    expect(breakers.state(origin)).toBe('open');
    expect(transitions[0]?.reason).toBe('50 % of 20 requests failed in 60 s');
  });

  it('holds deliveries while its probe decides, then releases them in the order they came', async () => {
    const time = clock();
    const breakers = new Breakers({ consecutiveFailures: 2, openMs: 1_000 }, undefined, time.now);
    const origin = 'https://pipeline.example.com';
    breakers.record(origin, false);
    breakers.record(origin, false);
    expect(breakers.admit(origin)).toBeGreaterThan(0);
    time.advance(1_000);
    expect(breakers.admit(origin)).toBe(0); // the probe
    expect(breakers.probing(origin)).toBe(true);
    const released: number[] = [];
    const held = [1, 2, 3].map((i) =>
      breakers.probeSettled(origin, 10_000).then(() => released.push(i)),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(released).toEqual([]);
    breakers.record(origin, true);
    await Promise.all(held);
    expect(released).toEqual([1, 2, 3]);
    expect(breakers.state(origin)).toBe('closed');
    expect(breakers.probing(origin)).toBe(false);
    await breakers.probeSettled(origin, 10_000); // no probe in flight: at once
  });

  it('doubles its open period on each failed probe, up to maxOpenMs, and starts over once closed', () => {
    const time = clock();
    const transitions: BreakerTransition[] = [];
    const breakers = new Breakers(
      { consecutiveFailures: 1, openMs: 1_000, maxOpenMs: 3_000 },
      (t) => transitions.push(t),
      time.now,
    );
    const origin = 'https://pipeline.example.com';
    breakers.record(origin, false);
    const waits: number[] = [];
    for (let probe = 0; probe < 4; probe++) {
      const wait = breakers.admit(origin);
      waits.push(wait);
      time.advance(wait);
      expect(breakers.admit(origin)).toBe(0); // the probe
      breakers.record(origin, false);
    }
    expect(waits).toEqual([1_000, 2_000, 3_000, 3_000]);
    expect(transitions.at(-1)?.reason).toBe('the probe failed: open for 3000 ms');
    time.advance(breakers.admit(origin));
    expect(breakers.admit(origin)).toBe(0);
    breakers.record(origin, true);
    expect(breakers.state(origin)).toBe('closed');
    breakers.record(origin, false);
    expect(breakers.admit(origin)).toBe(1_000);
  });
});
