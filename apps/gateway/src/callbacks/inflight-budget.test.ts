import { describe, expect, it } from 'vitest';
import { createInflightBudget } from './inflight-budget.js';

describe('createInflightBudget', () => {
  it('takes bodies up to its limit, refuses the one that would pass it, and takes it once another is released', () => {
    const seen: number[] = [];
    const budget = createInflightBudget({ limitBytes: 100, onChange: (held) => seen.push(held) });
    const first = budget.open();
    const second = budget.open();
    const third = budget.open();
    expect(first.add(60)).toBe(true);
    expect(second.add(40)).toBe(true);
    expect(third.add(1)).toBe(false);
    expect(budget.heldBytes).toBe(100);
    first.release();
    expect(third.add(50)).toBe(true);
    expect(budget.heldBytes).toBe(90);
    expect(seen).toEqual([60, 100, 40, 90]);
  });

  it('gives back every byte of a hold once, and takes nothing more into a released hold', () => {
    const budget = createInflightBudget({ limitBytes: 1_000 });
    const hold = budget.open();
    expect(hold.add(300)).toBe(true);
    expect(hold.add(200)).toBe(true);
    hold.release();
    hold.release();
    expect(budget.heldBytes).toBe(0);
    // A chunk arriving after the answer (the connection is being closed) holds nothing.
    expect(hold.add(10)).toBe(false);
    expect(budget.heldBytes).toBe(0);
  });
});
