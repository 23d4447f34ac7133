import { describe, expect, it } from 'vitest';
import { DestinationGuard, destinationOf, type GuardTransition } from './destination-guard.js';
import { createKeyedLimit } from './limit.js';
import { Sleepers } from './sleepers.js';

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

  it('wakes one held delivery for the probe, and the others, in order, once the breaker closes', async () => {
    const time = clock();
    const woken: string[][] = [];
    const guard = new DestinationGuard({
      breaker: { consecutiveFailures: 1, openMs: 1_000, maxOpenMs: 4_000 },
      onWake: (ids) => woken.push(ids),
      now: time.now,
    });
    const url = 'https://down.example.com/hook';
    await send(guard, url, false);
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await guard.admit(destinationOf(url), undefined));
    expect(held).toMatchObject([
      { go: false, by: 'destination', waitMs: 1_000, holdOffsetMs: 0 },
      { go: false, by: 'destination', waitMs: 60_000, holdOffsetMs: 1 },
      { go: false, by: 'destination', waitMs: 60_000, holdOffsetMs: 2 },
    ]);
    expect(held[0]).not.toHaveProperty('sleepKey');
    // The sleepers' wait jobs, registered as the attempt code does (here out of order).
    for (const [index, admission] of [held[2], held[1]].entries()) {
      if (admission && !admission.go && admission.sleepKey) {
        guard.sleeping(admission.sleepKey, 1_000, admission.holdOffsetMs, `job-${2 - index}`);
      }
    }
    time.advance(1_000);
    // The candidate's probe: it succeeds, the breaker closes, the sleepers wake in order.
    const probe = await guard.admit(destinationOf(url), 0);
    expect(probe.go).toBe(true);
    if (probe.go) guard.record(destinationOf(url), true, probe.originProbe);
    expect(woken).toEqual([['job-1', 'job-2']]);
  });

  it('wakes the deliveries its origin held too when a destination recovers, first held first', async () => {
    const time = clock();
    const woken: string[][] = [];
    const guard = new DestinationGuard({
      breaker: { consecutiveFailures: 1, openMs: 1_000, maxOpenMs: 4_000 },
      onWake: (ids) => woken.push(ids),
      now: time.now,
    });
    const origin = 'https://down.example.com';
    const url = `${origin}/a`;
    const hold = async (jobId: string) => {
      const admission = await guard.admit(destinationOf(url), undefined);
      if (!admission.go && admission.sleepKey) {
        guard.sleeping(admission.sleepKey, time.now(), admission.holdOffsetMs, jobId);
      }
      return admission;
    };
    await send(guard, url, false);
    // Held by the destination: the first is its probe candidate, the next sleeps.
    expect(await hold('destination-candidate')).toMatchObject({ by: 'destination' });
    expect(await hold('destination-held')).toMatchObject({ by: 'destination' });
    time.advance(10);
    for (const path of ['/b', '/c']) await send(guard, `${origin}${path}`, false);
    expect(guard.originState(origin)).toBe('open');
    expect(await hold('origin-candidate')).toMatchObject({ by: 'origin' });
    expect(await hold('origin-held')).toMatchObject({ by: 'origin' });
    time.advance(1_000);
    // The origin is half-open, /b and /c still failing: the destination's own probe goes.
    const probe = await guard.admit(destinationOf(url), 0);
    expect(probe).toMatchObject({ go: true, originProbe: false });
    if (probe.go) {
      guard.record(destinationOf(url), true, probe.originProbe);
      probe.release();
    }
    expect(guard.destinationState(url)).toBe('closed');
    expect(guard.originState(origin)).not.toBe('closed');
    // Both kinds wake at once, in the order they were first held.
    expect(woken).toEqual([['destination-held', 'origin-held']]);
  });

  it('keeps the probe candidate when it is held again', async () => {
    const time = clock();
    const guard = new DestinationGuard({
      breaker: { consecutiveFailures: 1, openMs: 1_000, maxOpenMs: 4_000 },
      now: time.now,
    });
    const url = 'https://down.example.com/hook';
    await send(guard, url, false);
    const candidate = await guard.admit(destinationOf(url), undefined);
    expect(candidate).toMatchObject({ go: false, holdOffsetMs: 0 });
    expect(candidate).not.toHaveProperty('sleepKey');
    time.advance(1_000);
    // Another delivery comes first and probes; its probe fails: open again, for 2 s.
    const other = await guard.admit(destinationOf(url), undefined);
    expect(other.go).toBe(true);
    if (other.go) guard.record(destinationOf(url), false, other.originProbe);
    // The candidate wakes into the open breaker: still the one to wake for the next probe.
    const again = await guard.admit(destinationOf(url), 0);
    expect(again).toMatchObject({ go: false, holdOffsetMs: 0, waitMs: 2_000 });
    expect(again).not.toHaveProperty('sleepKey');
    expect(await guard.admit(destinationOf(url), undefined)).toHaveProperty('sleepKey');
  });

  it('keeps at most the cap in flight per origin: the rest wait in order, or are held once it is stuck', async () => {
    const time = clock();
    const guard = new DestinationGuard({ maxInFlightPerOrigin: 2, now: time.now });
    const url = 'https://slow.example.com/x';
    const first = await guard.admit(destinationOf(url), undefined);
    const second = await guard.admit(destinationOf(url), undefined);
    expect([first.go, second.go]).toEqual([true, true]);
    // Another origin is not affected.
    expect((await guard.admit(destinationOf('https://other.example.com/'), undefined)).go).toBe(
      true,
    );
    // Busy, not stuck: the third waits for a place, in memory.
    let third: Awaited<ReturnType<DestinationGuard['admit']>> | undefined;
    const waiting = guard.admit(destinationOf(url), undefined).then((a) => (third = a));
    await new Promise((resolve) => setImmediate(resolve));
    expect(third).toBeUndefined();
    expect(guard.originLoad('https://slow.example.com')).toMatchObject({ inFlight: 2, waiting: 1 });
    if (first.go) first.release();
    await waiting;
    expect(third?.go).toBe(true);
    // No place given back for 3 s: stuck. The next ones are held, in order, for about that long.
    time.advance(3_000);
    const held = [
      await guard.admit(destinationOf(url), undefined),
      await guard.admit(destinationOf(url), undefined),
    ];
    expect(held).toMatchObject([
      { go: false, by: 'origin', full: true, waitMs: 3_000, holdOffsetMs: 0 },
      { go: false, by: 'origin', full: true, waitMs: 3_000, holdOffsetMs: 1 },
    ]);
    // A delivery woken while still held keeps its place.
    expect(await guard.admit(destinationOf(url), 1)).toMatchObject({ holdOffsetMs: 1 });
  });
});

describe('createKeyedLimit', () => {
  it('serves the waiters of a key in order, and other keys at once', async () => {
    const limit = createKeyedLimit(1);
    const first = await limit.acquire('a');
    const order: string[] = [];
    const second = limit.acquire('a').then((release) => {
      order.push('second');
      return release;
    });
    const third = limit.acquire('a').then((release) => {
      order.push('third');
      return release;
    });
    expect(limit.load('a')).toMatchObject({ inFlight: 1, waiting: 2 });
    const other = await limit.acquire('b');
    expect(limit.load('b')).toMatchObject({ inFlight: 1, waiting: 0 });
    first();
    (await second)();
    (await third)();
    other();
    expect(order).toEqual(['second', 'third']);
    expect(limit.load('a')).toMatchObject({ inFlight: 0, waiting: 0 });
  });
});

describe('Sleepers', () => {
  it('hands the probe candidate on once it is overdue (it was replayed, or its worker died)', () => {
    const sleepers = new Sleepers(() => undefined);
    expect(sleepers.takeCandidate('d:x\n', 0, 1_000, 0)).toBe(true);
    expect(sleepers.takeCandidate('d:x\n', 1, 1_000, 500)).toBe(false);
    expect(sleepers.takeCandidate('d:x\n', 0, 3_000, 900)).toBe(true);
    expect(sleepers.takeCandidate('d:x\n', 2, 9_000, 7_999)).toBe(false);
    expect(sleepers.takeCandidate('d:x\n', 2, 9_000, 8_001)).toBe(true);
  });

  it('wakes the sleepers of every key under a closed breaker, in the order they were first held', () => {
    const woken: string[][] = [];
    const sleepers = new Sleepers((ids) => woken.push(ids));
    sleepers.add('o:https://h\nhttps://h/a', 500, 0, 'a-first');
    sleepers.add('o:https://h\nhttps://h/a', 900, 2, 'a2');
    sleepers.add('o:https://h\nhttps://h/b', 900, 1, 'b1');
    sleepers.add('o:https://other\nhttps://other/a', 0, 0, 'x0');
    sleepers.closed('o:https://h\n');
    // First held first, whatever place a later numbering gave them; then by place.
    expect(woken).toEqual([['a-first', 'b1', 'a2']]);
  });
});
