import { describe, expect, it } from 'vitest';
import { DestinationGuard, destinationOf, type GuardTransition } from './destination-guard.js';
import { createKeyedLimit } from './limit.js';

const clock = () => {
  let now = 1_000_000;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
};

async function send(guard: DestinationGuard, url: string, ok: boolean) {
  const destination = destinationOf(url);
  const admission = await guard.admit(destination, undefined);
  if (!admission.go) return admission;
  guard.record(destination, ok, admission.originProbe);
  admission.release();
  return admission;
}

describe('DestinationGuard', () => {
  it('names a destination by origin and path, never by its query', () => {
    expect(destinationOf('https://p.example.com:8443/hooks/a?token=s3cret')).toEqual({
      url: 'https://p.example.com:8443/hooks/a?token=s3cret',
      origin: 'https://p.example.com:8443',
      label: 'https://p.example.com:8443/hooks/a',
    });
  });

  it('opens the breaker of the failing path only: other paths of its origin go on', async () => {
    const time = clock();
    const guard = new DestinationGuard({ breaker: { consecutiveFailures: 2 }, now: time.now });
    await send(guard, 'https://p.example.com/bad', false);
    await send(guard, 'https://p.example.com/bad', false);
    expect(guard.destinationState('https://p.example.com/bad')).toBe('open');
    expect(await send(guard, 'https://p.example.com/bad', true)).toMatchObject({
      go: false,
      by: 'destination',
    });
    expect(await send(guard, 'https://p.example.com/good', true)).toMatchObject({ go: true });
    expect(guard.originState('https://p.example.com')).toBe('closed');
  });

  it('opens an origin once most of its active destinations fail, and sends its probe to one not known to fail', async () => {
    const time = clock();
    const transitions: GuardTransition[] = [];
    const guard = new DestinationGuard({
      breaker: { consecutiveFailures: 1, openMs: 1_000 },
      onTransition: (t) => transitions.push(t),
      now: time.now,
    });
    const origin = 'https://host.example.com';
    await send(guard, `${origin}/a`, true);
    await send(guard, `${origin}/b`, false);
    await send(guard, `${origin}/c`, false);
    // 2 of 3 active destinations fail: most of them.
    expect(guard.originState(origin)).toBe('open');
    expect(transitions.at(-1)).toMatchObject({ level: 'origin', to: 'open' });
    expect(await send(guard, `${origin}/a`, true)).toMatchObject({ go: false, by: 'origin' });
    time.advance(1_000);
    // Half-open: a failing destination's own probe goes, but does not decide for the origin...
    const failingProbe = await guard.admit(destinationOf(`${origin}/b`), undefined);
    expect(failingProbe).toMatchObject({ go: true, originProbe: false });
    if (failingProbe.go) {
      guard.record(destinationOf(`${origin}/b`), false, failingProbe.originProbe);
      failingProbe.release();
    }
    expect(guard.originState(origin)).toBe('half_open');
    // ...a destination not known to fail takes the origin's probe, and its success closes it.
    const probe = await guard.admit(destinationOf(`${origin}/new`), undefined);
    expect(probe).toMatchObject({ go: true, originProbe: true });
    if (probe.go) guard.record(destinationOf(`${origin}/new`), true, probe.originProbe);
    expect(guard.originState(origin)).toBe('closed');
    expect(guard.destinationState(`${origin}/b`)).toBe('open');
  });

  it('closes a half-open origin once its destinations recover by their own probes', async () => {
    const time = clock();
    const guard = new DestinationGuard({
      breaker: { consecutiveFailures: 1, openMs: 1_000 },
      now: time.now,
    });
    const origin = 'https://down.example.com';
    for (const path of ['/a', '/b', '/c']) await send(guard, `${origin}${path}`, false);
    expect(guard.originState(origin)).toBe('open');
    time.advance(1_000);
    // Every destination is known to fail: their own probes recover them, and the origin.
    for (const path of ['/a', '/b']) {
      expect(await send(guard, `${origin}${path}`, true)).toMatchObject({ go: true });
    }
    expect(guard.originState(origin)).toBe('closed');
  });

  it('keeps at most the cap in flight per origin, holding the rest after the wait, in order', async () => {
    const guard = new DestinationGuard({ maxInFlightPerOrigin: 2, originWaitMs: 50 });
    const url = 'https://slow.example.com/x';
    const first = await guard.admit(destinationOf(url), undefined);
    const second = await guard.admit(destinationOf(url), undefined);
    expect([first.go, second.go]).toEqual([true, true]);
    expect(guard.originLoad('https://slow.example.com')).toEqual({ inFlight: 2, waiting: 0 });
    // Another origin is not affected.
    expect((await guard.admit(destinationOf('https://other.example.com/'), undefined)).go).toBe(
      true,
    );
    const [third, fourth] = await Promise.all([
      guard.admit(destinationOf(url), undefined),
      guard.admit(destinationOf(url), undefined),
    ]);
    expect(third).toMatchObject({ go: false, by: 'origin', holdOffsetMs: 0 });
    expect(fourth).toMatchObject({ go: false, by: 'origin', holdOffsetMs: 1 });
    // A delivery woken while still held keeps its place.
    expect(await guard.admit(destinationOf(url), 1)).toMatchObject({ holdOffsetMs: 1 });
    if (first.go) first.release();
    const next = await guard.admit(destinationOf(url), 0);
    expect(next.go).toBe(true);
  });
});

describe('createKeyedLimit', () => {
  it('serves the waiters of a key in order, and gives up on one after its wait', async () => {
    const limit = createKeyedLimit(1);
    const first = await limit.acquire('a', 1_000);
    const order: string[] = [];
    const second = limit.acquire('a', 1_000).then((release) => {
      order.push('second');
      return release;
    });
    const third = limit.acquire('a', 1_000).then((release) => {
      order.push('third');
      return release;
    });
    const late = await limit.acquire('b', 10);
    expect(late).toBeDefined();
    first?.();
    (await second)?.();
    (await third)?.();
    expect(order).toEqual(['second', 'third']);
    expect(limit.load('a')).toEqual({ inFlight: 0, waiting: 0 });
    const held = await limit.acquire('b', 10);
    expect(held).toBeUndefined();
    expect(limit.load('b')).toEqual({ inFlight: 1, waiting: 0 });
  });
});
