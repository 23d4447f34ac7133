interface Sleeper {
  /** When it was first held: the order sleepers wake in. */
  heldSince: number;
  place: number;
  jobId: string;
}

/**
 * Deliveries held by a breaker, asleep until it closes. Each open period, one held delivery
 * wakes when the breaker lets a probe through (the probe candidate); the others sleep until the
 * breaker closes, when they are woken in the order they were held. Without this, every held
 * delivery woke at every half-open moment and was held again: a backlog of thousands meant
 * thousands of queue jobs a few seconds apart, and everyone else's deliveries waited behind
 * them.
 */
export class Sleepers {
  /** Per key, its probe candidate: the place of the held delivery that wakes when the breaker
   * lets a probe through, and when that is. */
  private readonly candidates = new Map<string, { place: number; dueAt: number }>();
  private readonly asleep = new Map<string, Sleeper[]>();

  constructor(
    /** Wakes held jobs, in order (the worker promotes their queue jobs). */
    private readonly wake: (jobIds: string[]) => void,
    /** Most sleepers remembered per key; the rest wake on their own timers. */
    private readonly maxPerKey = 10_000,
  ) {}

  /**
   * Whether a delivery held on `key` now, at `place`, waking at `dueAt`, is its probe candidate
   * (and makes it so): the first held since the breaker last let a probe through, the candidate
   * itself held again, or anyone once the candidate is overdue by `graceMs` (it was replayed,
   * expired, or its worker died).
   */
  takeCandidate(key: string, place: number, dueAt: number, now: number, graceMs = 5_000): boolean {
    const candidate = this.candidates.get(key);
    if (candidate && candidate.place !== place && now <= candidate.dueAt + graceMs) return false;
    this.candidates.set(key, { place, dueAt });
    return true;
  }

  /** Remembers a sleeping delivery's queue job, to wake when `key` closes. */
  add(key: string, heldSince: number, place: number, jobId: string): void {
    const list = this.asleep.get(key) ?? [];
    if (list.length >= this.maxPerKey) return;
    list.push({ heldSince, place, jobId });
    this.asleep.set(key, list);
  }

  /** The breaker of every key starting with `prefix` lets a probe through: their candidates
   * are awake. */
  probeDue(prefix: string): void {
    for (const key of this.candidates.keys()) {
      if (key.startsWith(prefix)) this.candidates.delete(key);
    }
  }

  /** The breakers of every key starting with one of `prefixes` closed: wake their sleepers
   * together, in the order they were first held. */
  closed(...prefixes: string[]): void {
    for (const prefix of prefixes) this.probeDue(prefix);
    const woken: Sleeper[] = [];
    for (const [key, list] of this.asleep) {
      if (!prefixes.some((prefix) => key.startsWith(prefix))) continue;
      this.asleep.delete(key);
      woken.push(...list);
    }
    woken.sort((a, b) => a.heldSince - b.heldSince || a.place - b.place);
    if (woken.length > 0) this.wake(woken.map((e) => e.jobId));
  }
}
