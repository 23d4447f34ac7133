import { describe, expect, it } from 'vitest';
import { retryOrder } from './retry-order.js';

const delivery = (id: string, dueAt: number, deliveredAt: number) => ({ id, dueAt, deliveredAt });

describe('retry order after an outage', () => {
  it('finds no inversion when deliveries arrive in the order they were due', () => {
    const order = retryOrder(
      [delivery('a', 0, 100), delivery('b', 10, 101), delivery('c', 10, 102)],
      2,
    );
    expect(order).toEqual({
      checked: 3,
      inversions: 0,
      worstOvertakeMs: 0,
      worstHeldBackMs: 0,
      mostOvertaken: 0,
      inOrder: true,
    });
  });

  it('excuses overtaking by fewer deliveries than run side by side, not by as many', () => {
    const deliveries = [
      delivery('due-first', 0, 500),
      delivery('due-soon-after', 400, 200),
      delivery('due-much-later', 5_000, 300),
    ];
    // Two later-due deliveries arrived before the first one.
    expect(retryOrder(deliveries, 3)).toMatchObject({
      inversions: 2,
      worstOvertakeMs: 5_000,
      worstHeldBackMs: 300,
      mostOvertaken: 2,
      inOrder: true,
    });
    expect(retryOrder(deliveries, 2).inOrder).toBe(false);
  });

  it('calls a backlog delivered newest first out of order', () => {
    const backlog = Array.from({ length: 100 }, (_, i) => delivery(`d${i}`, i * 10, 10_000 - i));
    const order = retryOrder(backlog, 50);
    expect(order.mostOvertaken).toBe(99);
    expect(order.inOrder).toBe(false);
  });

  it('does not order deliveries that arrived in the same millisecond', () => {
    const order = retryOrder([delivery('a', 0, 100), delivery('b', 5_000, 100)], 1);
    expect(order.inversions).toBe(0);
  });

  it('compares order within a destination only', () => {
    const order = retryOrder(
      [
        { id: 'a', dueAt: 0, deliveredAt: 200, destination: '/one' },
        { id: 'b', dueAt: 10, deliveredAt: 100, destination: '/two' },
        { id: 'c', dueAt: 20, deliveredAt: 150, destination: '/one' },
      ],
      1,
    );
    // c overtook a (same destination); b, elsewhere, overtook nothing it shares a breaker with.
    expect(order).toMatchObject({ inversions: 1, mostOvertaken: 1, inOrder: false });
  });
});
