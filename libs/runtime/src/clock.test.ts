import { describe, expect, it } from 'vitest';
import { systemClock, unrefTimer } from './clock.js';

describe('systemClock', () => {
  it('keeps the process alive while a timeout is pending, so an awaited deadline is not cut short', () => {
    const handle = systemClock.setTimeout(() => undefined, 60_000) as NodeJS.Timeout;
    try {
      expect(handle.hasRef()).toBe(true);
    } finally {
      systemClock.clearTimeout(handle);
    }
  });

  it('never keeps the process alive on an interval alone', () => {
    const handle = systemClock.setInterval(() => undefined, 60_000) as NodeJS.Timeout;
    try {
      expect(handle.hasRef()).toBe(false);
    } finally {
      systemClock.clearInterval(handle);
    }
  });

  it('tells the time in milliseconds since the epoch', () => {
    const before = Date.now();
    const now = systemClock.now();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });
});

describe('unrefTimer', () => {
  it('unrefs a timeout of the system clock and hands it back', () => {
    const handle = systemClock.setTimeout(() => undefined, 60_000);
    try {
      expect(unrefTimer(handle)).toBe(handle);
      expect((handle as NodeJS.Timeout).hasRef()).toBe(false);
    } finally {
      systemClock.clearTimeout(handle);
    }
  });

  it("hands back a test clock's handle as it is", () => {
    const handle = { dueAt: 5 };
    expect(unrefTimer(handle)).toBe(handle);
    expect(unrefTimer(7)).toBe(7);
    expect(unrefTimer(undefined)).toBeUndefined();
  });
});
