/** A circuit breaker's state. */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** When a destination's breaker opens and how it recovers. */
export interface BreakerOptions {
  /** Consecutive failures that open it. @defaultValue 5 */
  consecutiveFailures?: number;
  /** Failure ratio over the window that opens it... @defaultValue 0.5 */
  failureRatio?: number;
  /** ...once the window holds at least this many results. @defaultValue 20 */
  minimumRequests?: number;
  /** The window of the ratio. @defaultValue 60_000 */
  windowMs?: number;
  /** How long it stays open before one probe is let through; doubled on each failed probe. @defaultValue 30_000 */
  openMs?: number;
  /** Longest open period. @defaultValue 300_000 */
  maxOpenMs?: number;
}

/** A state change, for metrics, logs and audit. */
export interface BreakerTransition {
  /** What the breaker guards: a destination URL, or an origin (see `DestinationGuard`). */
  key: string;
  from: BreakerState;
  to: BreakerState;
  reason: string;
}

/** Results of one slice of the window. */
interface Bucket {
  slot: number;
  ok: number;
  failed: number;
}

interface Circuit {
  state: BreakerState;
  consecutive: number;
  /** The window as a ring of slices: counting costs the same at any request rate. */
  buckets: Bucket[];
  openUntil: number;
  openMs: number;
  probing: boolean;
  /** When it last admitted or recorded anything: idle closed circuits are forgotten. */
  usedAt: number;
}

/** Circuits kept before idle closed ones are swept (destinations may be per-job URLs). */
const SWEEP_ABOVE = 1_000;

/**
 * Circuit breakers by key (a destination URL, or an origin), so one dead pipeline cannot hold
 * the workers while the others wait. In-process: each worker replica keeps its own (they
 * converge on the same facts within a few requests). Closed circuits idle for a window are
 * forgotten, so memory follows the destinations in use, not every one ever seen.
 */
export class Breakers {
  private readonly circuits = new Map<string, Circuit>();
  /** Deliveries waiting for the probe in flight to an origin, in the order they came. */
  private readonly probeWaiters = new Map<string, (() => void)[]>();
  private readonly options: Required<BreakerOptions>;
  /** One slice of the window: a second, or a tenth of a shorter window. */
  private readonly sliceMs: number;
  private readonly slices: number;

  constructor(
    options: BreakerOptions = {},
    private readonly onTransition: (transition: BreakerTransition) => void = () => undefined,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.options = {
      consecutiveFailures: options.consecutiveFailures ?? 5,
      failureRatio: options.failureRatio ?? 0.5,
      minimumRequests: options.minimumRequests ?? 20,
      windowMs: options.windowMs ?? 60_000,
      openMs: options.openMs ?? 30_000,
      maxOpenMs: options.maxOpenMs ?? 300_000,
    };
    this.sliceMs = Math.max(1, Math.min(1_000, Math.floor(this.options.windowMs / 10)));
    this.slices = Math.ceil(this.options.windowMs / this.sliceMs);
  }

  private emptyWindow(): Bucket[] {
    return Array.from({ length: this.slices }, () => ({ slot: -1, ok: 0, failed: 0 }));
  }

  private count(circuit: Circuit, now: number, ok: boolean): void {
    const slot = Math.floor(now / this.sliceMs);
    const bucket = circuit.buckets[slot % this.slices] as Bucket;
    if (bucket.slot !== slot) {
      bucket.slot = slot;
      bucket.ok = 0;
      bucket.failed = 0;
    }
    if (ok) bucket.ok++;
    else bucket.failed++;
  }

  private window(circuit: Circuit, now: number): { total: number; failed: number } {
    const oldest = Math.floor(now / this.sliceMs) - this.slices;
    let total = 0;
    let failed = 0;
    for (const bucket of circuit.buckets) {
      if (bucket.slot <= oldest) continue;
      total += bucket.ok + bucket.failed;
      failed += bucket.failed;
    }
    return { total, failed };
  }

  private circuit(key: string): Circuit {
    let circuit = this.circuits.get(key);
    if (!circuit) {
      if (this.circuits.size >= SWEEP_ABOVE) this.sweep();
      circuit = {
        state: 'closed',
        consecutive: 0,
        buckets: this.emptyWindow(),
        openUntil: 0,
        openMs: this.options.openMs,
        probing: false,
        usedAt: this.now(),
      };
      this.circuits.set(key, circuit);
    }
    return circuit;
  }

  /** Forgets closed circuits with nothing in their window and no failure streak. */
  private sweep(): void {
    const idleSince = this.now() - this.options.windowMs;
    for (const [key, circuit] of this.circuits) {
      if (circuit.state !== 'closed' || circuit.consecutive > 0 || circuit.usedAt > idleSince) {
        continue;
      }
      this.circuits.delete(key);
    }
  }

  private move(key: string, circuit: Circuit, to: BreakerState, reason: string) {
    const from = circuit.state;
    if (from === to) return;
    circuit.state = to;
    this.onTransition({ key, from, to, reason });
  }

  /** The state of a key's breaker. */
  state(key: string): BreakerState {
    return this.circuits.get(key)?.state ?? 'closed';
  }

  /** Circuits kept now (closed idle ones are swept once there are many). */
  get size(): number {
    return this.circuits.size;
  }

  /**
   * May a request go now? Returns 0 if so (and takes the probe of a half-open breaker), else
   * how many ms to wait. A half-open breaker lets exactly one probe through at a time.
   */
  admit(key: string): number {
    const wait = this.waitFor(key);
    if (wait === 0) this.take(key);
    return wait;
  }

  /**
   * How long a request must wait (0: it may go), without taking anything: an open breaker
   * whose time is up turns half-open here.
   */
  waitFor(key: string): number {
    const circuit = this.circuit(key);
    const now = this.now();
    circuit.usedAt = now;
    if (circuit.state === 'open') {
      if (now < circuit.openUntil) return circuit.openUntil - now;
      this.move(
        key,
        circuit,
        'half_open',
        `open for ${circuit.openMs} ms: letting one probe through`,
      );
    }
    if (circuit.state === 'half_open' && circuit.probing) {
      return Math.min(1_000, this.options.openMs);
    }
    return 0;
  }

  /**
   * Takes the way {@link waitFor} said is free: the probe, when the breaker is half-open.
   * Returns whether the request is that probe.
   */
  take(key: string): boolean {
    const circuit = this.circuit(key);
    if (circuit.state !== 'half_open' || circuit.probing) return false;
    circuit.probing = true;
    return true;
  }

  /** Opens the breaker now, whatever its counts say (an origin most of whose destinations
   * fail). No-op unless closed. */
  trip(key: string, reason: string): void {
    const circuit = this.circuit(key);
    if (circuit.state !== 'closed') return;
    circuit.openUntil = this.now() + circuit.openMs;
    this.move(key, circuit, 'open', reason);
  }

  /** Closes a half-open breaker without its probe's answer (what it guarded recovered by
   * other means), releasing the deliveries waiting for that answer. No-op unless half-open. */
  reset(key: string, reason: string): void {
    const circuit = this.circuits.get(key);
    if (!circuit || circuit.state !== 'half_open') return;
    circuit.probing = false;
    circuit.openMs = this.options.openMs;
    circuit.buckets = this.emptyWindow();
    this.move(key, circuit, 'closed', reason);
    this.releaseProbeWaiters(key);
  }

  /** Whether a half-open breaker's one probe to `key` is in flight. */
  probing(key: string): boolean {
    const circuit = this.circuits.get(key);
    return circuit?.state === 'half_open' && circuit.probing;
  }

  /**
   * Resolves once the probe in flight to `key` has its result (at once when none is), or
   * after `timeoutMs`. Waiters are released in the order they came: deliveries held while
   * the probe decides go on in the order they were due, ahead of any that came later.
   */
  probeSettled(key: string, timeoutMs: number): Promise<void> {
    if (!this.probing(key)) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      const waiters = this.probeWaiters.get(key) ?? [];
      waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.probeWaiters.set(key, waiters);
    });
  }

  private releaseProbeWaiters(key: string): void {
    const waiters = this.probeWaiters.get(key);
    if (!waiters) return;
    this.probeWaiters.delete(key);
    for (const release of waiters) release();
  }

  /** Records the result of a request admitted by {@link admit}. Only server-side failures
   * (5xx, timeouts, connection errors) count against a destination. */
  record(key: string, ok: boolean): void {
    const circuit = this.circuit(key);
    const now = this.now();
    circuit.usedAt = now;
    this.count(circuit, now, ok);
    circuit.consecutive = ok ? 0 : circuit.consecutive + 1;
    if (circuit.state === 'half_open') {
      circuit.probing = false;
      if (ok) {
        circuit.openMs = this.options.openMs;
        circuit.buckets = this.emptyWindow();
        this.move(key, circuit, 'closed', 'the probe succeeded');
      } else {
        circuit.openMs = Math.min(this.options.maxOpenMs, circuit.openMs * 2);
        circuit.openUntil = now + circuit.openMs;
        this.move(key, circuit, 'open', `the probe failed: open for ${circuit.openMs} ms`);
      }
      this.releaseProbeWaiters(key);
      return;
    }
    if (ok || circuit.state !== 'closed') return;
    const { total, failed } = this.window(circuit, now);
    const ratio = total === 0 ? 0 : failed / total;
    let reason: string | undefined;
    if (circuit.consecutive >= this.options.consecutiveFailures) {
      reason = `${circuit.consecutive} consecutive failures`;
    } else if (total >= this.options.minimumRequests && ratio >= this.options.failureRatio) {
      reason = `${Math.round(ratio * 100)} % of ${total} requests failed in ${this.options.windowMs / 1000} s`;
    }
    if (reason) {
      circuit.openUntil = now + circuit.openMs;
      this.move(key, circuit, 'open', reason);
    }
  }

  /** Every key with a breaker that is not closed. */
  notClosed(): { key: string; state: BreakerState }[] {
    return [...this.circuits.entries()]
      .filter(([, circuit]) => circuit.state !== 'closed')
      .map(([key, circuit]) => ({ key, state: circuit.state }));
  }
}
