import { describe, expect, it } from 'vitest';
import { groupCommit } from './group-commit.js';
import { packFields } from './pack.js';

/** A writer whose calls the test finishes by hand. */
function manualWriter() {
  const calls: { items: number[]; finish(error?: Error): void }[] = [];
  const write = (items: number[]) =>
    new Promise<number[]>((resolve, reject) => {
      calls.push({
        items,
        finish: (error) => (error ? reject(error) : resolve(items.map((item) => item * 10))),
      });
    });
  return { calls, write };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('group commit', () => {
  it('writes the items of one turn of the event loop in one call, answering each its own result', async () => {
    const { calls, write } = manualWriter();
    const add = groupCommit(write, { maxItems: 100 });
    const answers = Promise.all([add(1), add(2), add(3)]);
    expect(calls).toHaveLength(0);
    await tick();
    expect(calls.map((call) => call.items)).toEqual([[1, 2, 3]]);
    calls[0]?.finish();
    expect(await answers).toEqual([10, 20, 30]);
  });

  it('splits by item count and by weight, in order', async () => {
    const { calls, write } = manualWriter();
    const add = groupCommit(write, {
      maxItems: 2,
      maxWeight: 10,
      weight: (n) => n,
      maxInFlight: 10,
    });
    const answers = Promise.all([add(1), add(2), add(3), add(9), add(1)]);
    await tick();
    expect(calls.map((call) => call.items)).toEqual([[1, 2], [3, 9], [1]]);
    for (const call of calls) call.finish();
    expect(await answers).toEqual([10, 20, 30, 90, 10]);
  });

  it('lets items wait while calls are in flight, then sends them together at once', async () => {
    const { calls, write } = manualWriter();
    const add = groupCommit(write, { maxItems: 100, maxInFlight: 1 });
    const first = add(1);
    await tick();
    const later = [add(2), add(3), add(4)];
    await tick();
    expect(calls.map((call) => call.items)).toEqual([[1]]);
    calls[0]?.finish();
    expect(await first).toBe(10);
    expect(calls.map((call) => call.items)).toEqual([[1], [2, 3, 4]]);
    calls[1]?.finish();
    expect(await Promise.all(later)).toEqual([20, 30, 40]);
  });

  it('holds a batch for lingerMs, and sends it at once when lingerMaxItems are waiting', async () => {
    const { calls, write } = manualWriter();
    const add = groupCommit(write, { maxItems: 100, lingerMs: 60_000, lingerMaxItems: 3 });
    const few = [add(1), add(2)];
    await tick();
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Two wait for company (the linger is a minute long) ...
    expect(calls).toHaveLength(0);
    // ... and the third makes the batch worth sending: it goes without waiting out the linger.
    const third = add(3);
    expect(calls.map((call) => call.items)).toEqual([[1, 2, 3]]);
    calls[0]?.finish();
    expect(await Promise.all([...few, third])).toEqual([10, 20, 30]);
  });

  it('starts the linger afresh after a batch went early (the old timer never cuts the next one short)', async () => {
    const { calls, write } = manualWriter();
    const add = groupCommit(write, { maxItems: 100, lingerMs: 400, lingerMaxItems: 2 });
    const since = performance.now();
    const early = [add(1), add(2)];
    expect(calls.map((call) => call.items)).toEqual([[1, 2]]);
    calls[0]?.finish();
    await Promise.all(early);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const next = add(3);
    // 400 ms after the first item the first linger would have ended: the new item still waits.
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(performance.now() - since).toBeGreaterThan(400);
    expect(calls).toHaveLength(1);
    await expect.poll(() => calls.length, { timeout: 5_000, interval: 10 }).toBe(2);
    calls[1]?.finish();
    expect(await next).toBe(30);
  });

  it('refuses a lingerMaxItems below 1', () => {
    const { write } = manualWriter();
    for (const lingerMaxItems of [0, -1, Number.NaN]) {
      expect(() => groupCommit(write, { maxItems: 10, lingerMs: 1, lingerMaxItems })).toThrow(
        RangeError,
      );
    }
  });

  it('sends a batch short of lingerMaxItems once lingerMs is over', async () => {
    const { calls, write } = manualWriter();
    const add = groupCommit(write, { maxItems: 100, lingerMs: 300, lingerMaxItems: 3 });
    const since = performance.now();
    const answers = [add(1), add(2)];
    await tick();
    expect(calls).toHaveLength(0);
    await expect.poll(() => calls.length, { timeout: 5_000, interval: 10 }).toBe(1);
    expect(performance.now() - since).toBeGreaterThanOrEqual(250);
    expect(calls[0]?.items).toEqual([1, 2]);
    calls[0]?.finish();
    expect(await Promise.all(answers)).toEqual([10, 20]);
  });

  it('rejects every item of a failed call and none of the others', async () => {
    const { calls, write } = manualWriter();
    const add = groupCommit(write, { maxItems: 2, maxInFlight: 5 });
    const results = Promise.allSettled([add(1), add(2), add(3)]);
    await tick();
    calls[0]?.finish(new Error('Redis went away'));
    calls[1]?.finish();
    expect((await results).map((result) => result.status)).toEqual([
      'rejected',
      'rejected',
      'fulfilled',
    ]);
  });
});

describe('packFields', () => {
  it('writes each field as a big-endian length and its UTF-8 bytes, parts joined', () => {
    const packed = packFields(['ab', Buffer.from([1, 2, 3]), ['ü', Buffer.from('!')], '']);
    expect([...packed]).toEqual([
      0, 0, 0, 2, 0x61, 0x62, 0, 0, 0, 3, 1, 2, 3, 0, 0, 0, 3, 0xc3, 0xbc, 0x21, 0, 0, 0, 0,
    ]);
  });
});
