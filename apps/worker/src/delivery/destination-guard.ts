import { destinationLabel } from '@callback-gateway/store';
import { Breakers, type BreakerOptions, type BreakerState } from './breaker.js';
import { createKeyedLimit, type KeyedLimit } from './limit.js';
import { Sleepers } from './sleepers.js';

/** Where a delivery goes, as the guard knows it. */
export interface Destination {
  /** The registration's full `deliver_to` URL: the unit that fails, and its breaker's key. */
  url: string;
  /** Its origin: what pipelines on one host share (the in-flight cap, the origin breaker). */
  origin: string;
  /** How logs, metrics, audit and the dashboard name it: the origin and path, without the query
   * (where tokens go). */
  label: string;
}

const destinations = new Map<string, Destination>();
/** The destination of a `deliver_to` URL (parsed once per URL). */
export function destinationOf(url: string): Destination {
  let destination = destinations.get(url);
  if (destination === undefined) {
    destination = { url, origin: new URL(url).origin, label: destinationLabel(url) };
    if (destinations.size >= 10_000) destinations.clear();
    destinations.set(url, destination);
  }
  return destination;
}

/** A breaker's state change, named for people. */
export interface GuardTransition {
  level: 'destination' | 'origin';
  /** The destination's label, or the origin. */
  label: string;
  origin: string;
  from: BreakerState;
  to: BreakerState;
  reason: string;
}

/** Options of {@link DestinationGuard}. */
export interface DestinationGuardOptions {
  /** Each destination's breaker (`DELIVERY_BREAKER_*`); an origin's opens and recovers alike. */
  breaker?: BreakerOptions;
  /**
   * Deliveries in flight to one origin at most (`DELIVERY_MAX_IN_FLIGHT_PER_ORIGIN`): a hung
   * pipeline holds no more of the worker's slots than this.
   * @defaultValue 10
   */
  maxInFlightPerOrigin?: number;
  /**
   * An origin with all its places taken that has given none back for this long is stuck (its
   * requests hang): its next deliveries are held, giving their queue jobs back, rather than
   * waiting in memory.
   * @defaultValue 1_000
   */
  originStuckMs?: number;
  /**
   * An origin's breaker opens when at least this many of its destinations were active in the
   * breaker's window, and more than half of those have open breakers.
   * @defaultValue 3
   */
  originMinDestinations?: number;
  /**
   * How long a delivery waits, in memory, for a probe in flight to its destination or origin to
   * decide: a probe of a recovered pipeline answers in that time, and the deliveries behind it
   * go on at once, in order. Past it (a probe of a pipeline still hanging), the delivery is held
   * like a breaker wait, giving its queue job back: waiting on would hold the worker's jobs for
   * as long as the probe's timeout.
   * @defaultValue 250
   */
  probeWaitMs?: number;
  onTransition?: (transition: GuardTransition) => void;
  /**
   * Wakes deliveries held until a breaker closed, by their queue job ids, in order (see
   * `Sleepers`). Unset: they wake on their own timers.
   */
  onWake?: (jobIds: string[]) => void;
  /** An origin's deliveries began to be held because it was full (once per such period). */
  onOriginFull?: (origin: string) => void;
  now?: () => number;
}

/** What the guard said about a delivery about to be sent. */
export type Admission =
  /** Send it, then {@link DestinationGuard.record} its result, then `release()`. */
  | { go: true; originProbe: boolean; release: () => void }
  /** Do not send: hold it for `waitMs` (no attempt spent), at place `holdOffsetMs`. */
  | {
      go: false;
      waitMs: number;
      holdOffsetMs: number;
      by: 'destination' | 'origin';
      /** Held because the origin had its most deliveries in flight (not by a breaker). */
      full: boolean;
      /** Asleep until this breaker closes: pass the hold's job id to
       * {@link DestinationGuard.sleeping}. */
      sleepKey?: string;
    };

/**
 * Who may send to a destination, and when. Two levels of circuit breakers: one per destination
 * URL (the unit that fails: one failing path never holds healthy paths on the same host), and
 * one per origin, which opens only when most of the origin's active destinations fail (a host
 * that is down, with a path per job). Its probe always goes to a destination not known to be
 * failing, so it can succeed. And a cap on deliveries in flight per origin: a pipeline that
 * hangs holds at most that many of the worker's slots; the rest wait their turn in order,
 * outside the worker's slots.
 */
export class DestinationGuard {
  private readonly destinations: Breakers;
  private readonly origins: Breakers;
  private readonly originSlots: KeyedLimit;
  private readonly maxInFlightPerOrigin: number;
  private readonly originStuckMs: number;
  private readonly probeWaitMs: number;
  private readonly originMinDestinations: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly onOriginFull: (origin: string) => void;
  /** Per origin: its destinations' last activity, for the majority rule. */
  private readonly activity = new Map<string, Map<string, number>>();
  /** Per origin: deliveries in {@link admit} now. */
  private readonly waiting = new Map<string, number>();
  private readonly sleepers: Sleepers;
  /** How long a sleeping delivery waits at most for its breaker to close (then it wakes on its
   * own: its worker may have restarted and forgotten it). */
  private readonly sleepMs: number;
  /** Origins whose deliveries are held because they are stuck (told once per such period). */
  private readonly stuck = new Set<string>();
  /**
   * Per destination: places handed to its held deliveries, whatever held them (its breaker, its
   * origin's, a stuck origin), since it last had nothing held: one numbering, so its deliveries
   * wake in the order they came due.
   */
  private readonly places = new Map<string, number>();

  constructor(options: DestinationGuardOptions = {}) {
    this.now = options.now ?? (() => Date.now());
    const onTransition = options.onTransition ?? (() => undefined);
    this.onOriginFull = options.onOriginFull ?? (() => undefined);
    this.windowMs = options.breaker?.windowMs ?? 60_000;
    this.originStuckMs = options.originStuckMs ?? 1_000;
    this.probeWaitMs = options.probeWaitMs ?? 250;
    this.originMinDestinations = options.originMinDestinations ?? 3;
    this.sleepers = new Sleepers(options.onWake ?? (() => undefined));
    this.sleepMs = Math.max(60_000, 2 * (options.breaker?.maxOpenMs ?? 300_000));
    const wakeOn = (key: string, to: BreakerState, alsoKey?: string) => {
      // A destination that recovered while its origin lets probes through wakes the deliveries
      // its origin held too, all in the order they were first held (the origin's sleepers,
      // held first, would otherwise wait for the origin's own close and come last).
      if (to === 'closed') this.sleepers.closed(key, ...(alsoKey ? [alsoKey] : []));
      else if (to === 'half_open') this.sleepers.probeDue(key);
    };
    const resetPlaces = (origin: string, url?: string) => {
      if (url !== undefined) this.places.delete(url);
      else
        for (const key of this.places.keys())
          if (destinationOf(key).origin === origin) this.places.delete(key);
    };
    this.destinations = new Breakers(
      options.breaker,
      (transition) => {
        const destination = destinationOf(transition.key);
        onTransition({
          level: 'destination',
          label: destination.label,
          origin: destination.origin,
          from: transition.from,
          to: transition.to,
          reason: transition.reason,
        });
        wakeOn(
          `d:${transition.key}\n`,
          transition.to,
          this.origins.state(destination.origin) === 'open'
            ? undefined
            : `o:${destination.origin}\n${transition.key}`,
        );
        if (transition.to === 'closed') resetPlaces(destination.origin, transition.key);
        this.judgeOrigin(destination.origin);
      },
      this.now,
    );
    // An origin's breaker never opens on its own counts (one failing path would trip it): only
    // by the majority rule, and its probes decide when it closes.
    this.origins = new Breakers(
      { ...options.breaker, consecutiveFailures: Infinity, minimumRequests: Infinity },
      (transition) => {
        onTransition({
          level: 'origin',
          label: transition.key,
          origin: transition.key,
          from: transition.from,
          to: transition.to,
          reason: transition.reason,
        });
        wakeOn(`o:${transition.key}\n`, transition.to);
        if (transition.to === 'closed') resetPlaces(transition.key);
      },
      this.now,
    );
    this.maxInFlightPerOrigin = options.maxInFlightPerOrigin ?? 10;
    this.originSlots = createKeyedLimit(this.maxInFlightPerOrigin, this.now);
  }

  /**
   * Admits a delivery: waits while a probe to its destination or origin decides, then for a
   * place among its origin's deliveries in flight (unless the origin is stuck), then asks both
   * breakers. None of these waits holds a slot of the worker's limit: call it before taking one.
   * `heldAt` is the place the delivery got when it was first held, if it was.
   */
  async admit(destination: Destination, heldAt: number | undefined): Promise<Admission> {
    const waiting = this.waiting.get(destination.origin) ?? 0;
    this.waiting.set(destination.origin, waiting + 1);
    try {
      return await this.admitWaiting(destination, heldAt, waiting);
    } finally {
      const left = (this.waiting.get(destination.origin) ?? 1) - 1;
      if (left > 0) this.waiting.set(destination.origin, left);
      else this.waiting.delete(destination.origin);
    }
  }

  /** {@link admit}, `ahead` deliveries of the same origin waiting in it already. */
  private async admitWaiting(
    destination: Destination,
    heldAt: number | undefined,
    ahead: number,
  ): Promise<Admission> {
    // Deliveries waiting here keep their queue jobs: one origin may keep as many waiting as it
    // may have in flight, no more. The others are held at once.
    const mayWait = ahead < this.maxInFlightPerOrigin;
    const probeDeadline = this.now() + (mayWait ? this.probeWaitMs : 0);
    while (this.destinations.probing(destination.url) || this.origins.probing(destination.origin)) {
      const left = probeDeadline - this.now();
      if (left <= 0) {
        const by = this.origins.probing(destination.origin) ? 'origin' : 'destination';
        return this.held(destination, by, 1_000, heldAt);
      }
      await this.destinations.probeSettled(destination.url, left);
      await this.origins.probeSettled(destination.origin, left);
    }
    // An origin that is full and has given no place back for a while is stuck (its requests
    // hang): hold the delivery, without its queue job, for about as long as it has been stuck.
    // One that is merely busy gives places back all the time: wait for one, in order.
    const load = this.originSlots.load(destination.origin);
    const stuckMs = this.now() - load.lastReleaseAt;
    if (load.inFlight < this.maxInFlightPerOrigin) {
      this.stuck.delete(destination.origin);
    } else if (stuckMs > this.originStuckMs) {
      if (!this.stuck.has(destination.origin)) {
        this.stuck.add(destination.origin);
        this.onOriginFull(destination.origin);
      }
      return {
        go: false,
        waitMs: Math.min(30_000, Math.max(1_000, stuckMs)),
        holdOffsetMs: heldAt ?? this.nextPlace(destination.url),
        by: 'origin',
        full: true,
      };
    }
    const release = await this.originSlots.acquire(destination.origin);
    const originWait = this.origins.waitFor(destination.origin);
    if (originWait > 0) {
      release();
      return this.held(destination, 'origin', originWait, heldAt);
    }
    const knownFailing = this.destinations.state(destination.url) !== 'closed';
    const destinationWait = this.destinations.admit(destination.url);
    if (destinationWait > 0) {
      release();
      return this.held(destination, 'destination', destinationWait, heldAt);
    }
    // A half-open origin's probe goes only to a destination not known to be failing, so it
    // can succeed. A failing destination's own probe goes too, but decides for it alone (its
    // recovery may end the origin's majority, below).
    const originProbe = !knownFailing && this.origins.take(destination.origin);
    return { go: true, originProbe, release };
  }

  /** Records the result of an admitted delivery (only outages count against a destination). */
  record(destination: Destination, ok: boolean, originProbe: boolean): void {
    const at = this.now();
    let seen = this.activity.get(destination.origin);
    if (!seen) {
      if (this.activity.size >= 1_000) this.forgetIdleOrigins(at);
      seen = new Map();
      this.activity.set(destination.origin, seen);
    }
    seen.delete(destination.url);
    seen.set(destination.url, at);
    if (seen.size > 1_000) {
      const oldest = seen.keys().next();
      if (!oldest.done) seen.delete(oldest.value);
    }
    this.destinations.record(destination.url, ok);
    if (originProbe) this.origins.record(destination.origin, ok);
  }

  /** Breakers not closed, for metrics and the dashboard. */
  notClosed(): {
    level: 'destination' | 'origin';
    label: string;
    origin: string;
    state: BreakerState;
  }[] {
    return [
      ...this.origins.notClosed().map(({ key, state }) => ({
        level: 'origin' as const,
        label: key,
        origin: key,
        state,
      })),
      ...this.destinations.notClosed().map(({ key, state }) => {
        const destination = destinationOf(key);
        return {
          level: 'destination' as const,
          label: destination.label,
          origin: destination.origin,
          state,
        };
      }),
    ];
  }

  /** The state of a destination's own breaker. */
  destinationState(url: string): BreakerState {
    return this.destinations.state(url);
  }

  /** The state of an origin's breaker. */
  originState(origin: string): BreakerState {
    return this.origins.state(origin);
  }

  /** Deliveries in flight to an origin now, and waiting for a place. */
  originLoad(origin: string): { inFlight: number; waiting: number } {
    return this.originSlots.load(origin);
  }

  private held(
    destination: Destination,
    by: 'destination' | 'origin',
    waitMs: number,
    heldAt: number | undefined,
  ): Admission {
    // Held deliveries keep their place: a millisecond apart, in the order they were first held
    // (one woken while still held keeps its offset), so they go on in the order they came due.
    const holdOffsetMs = heldAt ?? this.nextPlace(destination.url);
    // Per destination under an origin's breaker too: when the origin lets probes through, one
    // delivery of each of its destinations wakes, so each can probe its own breaker (the
    // origin closes once most of them recovered).
    const sleepKey =
      by === 'origin' ? `o:${destination.origin}\n${destination.url}` : `d:${destination.url}\n`;
    // One held delivery wakes when the breaker lets its probe through; the rest sleep until it
    // closes (woken then, in order), or until their own timer.
    const now = this.now();
    if (this.sleepers.takeCandidate(sleepKey, holdOffsetMs, now + waitMs + holdOffsetMs, now)) {
      return { go: false, waitMs, holdOffsetMs, by, full: false };
    }
    return { go: false, waitMs: this.sleepMs, holdOffsetMs, by, full: false, sleepKey };
  }

  /** The next place among a destination's held deliveries. */
  private nextPlace(url: string): number {
    const place = this.places.get(url) ?? 0;
    if (this.places.size >= 10_000 && place === 0) this.places.clear();
    this.places.set(url, place + 1);
    return place;
  }

  /** A held delivery's queue job, to wake when its breaker closes. */
  sleeping(sleepKey: string, heldSince: number, place: number, jobId: string): void {
    this.sleepers.add(sleepKey, heldSince, place, jobId);
    // Its breaker may have closed while the hold was being committed: wake it now, then.
    const [level, key = ''] = [sleepKey.slice(0, 1), sleepKey.slice(2, sleepKey.indexOf('\n'))];
    const state = level === 'o' ? this.origins.state(key) : this.destinations.state(key);
    if (state === 'closed') this.sleepers.closed(sleepKey);
  }

  /** Forgets the activity of origins with none in the breaker's window. */
  private forgetIdleOrigins(at: number): void {
    const since = at - this.windowMs;
    for (const [origin, seen] of this.activity) {
      let last = 0;
      for (const time of seen.values()) last = Math.max(last, time);
      if (last <= since) this.activity.delete(origin);
    }
  }

  /**
   * The majority rule: most of an origin's active destinations fail, so the origin does; once
   * they no longer do (their own probes succeeded), neither does the origin.
   */
  private judgeOrigin(origin: string): void {
    const seen = this.activity.get(origin);
    if (!seen) return;
    const since = this.now() - this.windowMs;
    let active = 0;
    let failing = 0;
    for (const [url, at] of seen) {
      if (at <= since) continue;
      active++;
      if (this.destinations.state(url) !== 'closed') failing++;
    }
    const most = active >= this.originMinDestinations && failing * 2 > active;
    if (most) {
      this.origins.trip(
        origin,
        `${failing} of its ${active} active destinations have open breakers`,
      );
    } else if (this.origins.state(origin) === 'half_open') {
      this.origins.reset(origin, `only ${failing} of its ${active} active destinations still fail`);
    }
  }
}
