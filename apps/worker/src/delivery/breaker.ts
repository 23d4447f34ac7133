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
  origin: string;
  from: BreakerState;
  to: BreakerState;
  reason: string;
}

interface Circuit {
  state: BreakerState;
  consecutive: number;
  results: { at: number; ok: boolean }[];
  openUntil: number;
  openMs: number;
  probing: boolean;
}

/**
 * Circuit breakers per destination origin, so one dead pipeline cannot hold the workers while
 * the others wait. In-process: each worker replica keeps its own (they converge on the same
 * facts within a few requests).
 */
export class Breakers {
  private readonly circuits = new Map<string, Circuit>();
  private readonly options: Required<BreakerOptions>;

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
  }

  private circuit(origin: string): Circuit {
    let circuit = this.circuits.get(origin);
    if (!circuit) {
      circuit = {
        state: 'closed',
        consecutive: 0,
        results: [],
        openUntil: 0,
        openMs: this.options.openMs,
        probing: false,
      };
      this.circuits.set(origin, circuit);
    }
    return circuit;
  }

  private move(origin: string, circuit: Circuit, to: BreakerState, reason: string) {
    const from = circuit.state;
    if (from === to) return;
    circuit.state = to;
    this.onTransition({ origin, from, to, reason });
  }

  /** The state of an origin's breaker. */
  state(origin: string): BreakerState {
    return this.circuits.get(origin)?.state ?? 'closed';
  }

  /**
   * May a request to `origin` go now? Returns 0 if so, else how many ms to wait. A half-open
   * breaker lets exactly one probe through at a time.
   */
  admit(origin: string): number {
    const circuit = this.circuit(origin);
    const now = this.now();
    if (circuit.state === 'open') {
      if (now < circuit.openUntil) return circuit.openUntil - now;
      this.move(
        origin,
        circuit,
        'half_open',
        `open for ${circuit.openMs} ms: letting one probe through`,
      );
    }
    if (circuit.state === 'half_open') {
      if (circuit.probing) return Math.min(1_000, this.options.openMs);
      circuit.probing = true;
    }
    return 0;
  }

  /** Records the result of a request admitted by {@link admit}. Only server-side failures
   * (5xx, timeouts, connection errors) count against a destination. */
  record(origin: string, ok: boolean): void {
    const circuit = this.circuit(origin);
    const now = this.now();
    circuit.results = circuit.results.filter((result) => now - result.at < this.options.windowMs);
    circuit.results.push({ at: now, ok });
    circuit.consecutive = ok ? 0 : circuit.consecutive + 1;
    if (circuit.state === 'half_open') {
      circuit.probing = false;
      if (ok) {
        circuit.openMs = this.options.openMs;
        circuit.results = [];
        this.move(origin, circuit, 'closed', 'the probe succeeded');
      } else {
        circuit.openMs = Math.min(this.options.maxOpenMs, circuit.openMs * 2);
        circuit.openUntil = now + circuit.openMs;
        this.move(origin, circuit, 'open', `the probe failed: open for ${circuit.openMs} ms`);
      }
      return;
    }
    if (ok || circuit.state !== 'closed') return;
    const failures = circuit.results.filter((result) => !result.ok).length;
    const ratio = failures / circuit.results.length;
    let reason: string | undefined;
    if (circuit.consecutive >= this.options.consecutiveFailures) {
      reason = `${circuit.consecutive} consecutive failures`;
    } else if (
      circuit.results.length >= this.options.minimumRequests &&
      ratio >= this.options.failureRatio
    ) {
      reason = `${Math.round(ratio * 100)} % of ${circuit.results.length} requests failed in ${this.options.windowMs / 1000} s`;
    }
    if (reason) {
      circuit.openUntil = now + circuit.openMs;
      this.move(origin, circuit, 'open', reason);
    }
  }

  /** Every origin with a breaker that is not closed. */
  notClosed(): { origin: string; state: BreakerState }[] {
    return [...this.circuits.entries()]
      .filter(([, circuit]) => circuit.state !== 'closed')
      .map(([origin, circuit]) => ({ origin, state: circuit.state }));
  }
}
