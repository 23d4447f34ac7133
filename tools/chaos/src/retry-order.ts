/** One delivery after an outage: when its attempt was due, when it reached the pipeline. */
export interface DueDelivery {
  id: string;
  /** When the attempt that delivered it was due by the retry schedule. */
  dueAt: number;
  /** When the pipeline received it (first receipt). */
  deliveredAt: number;
  /** Where it went (the registration's `deliver_to`): order is compared within a destination,
   * the unit the breakers hold and release. */
  destination?: string;
}

/** How far the arrival order strayed from the due order. */
export interface RetryOrder {
  /** Deliveries compared. */
  checked: number;
  /** Pairs that arrived in the opposite order of their due times. */
  inversions: number;
  /** The largest due-time margin of an inversion: how much later the overtaking one was due. */
  worstOvertakeMs: number;
  /** The largest arrival gap of an inversion: how long after a later-due one the other came. */
  worstHeldBackMs: number;
  /** The most deliveries that reached the pipeline ahead of one delivery although due after it. */
  mostOvertaken: number;
  /** `mostOvertaken < concurrency`: see {@link retryOrder}. */
  inOrder: boolean;
}

/**
 * Compares arrival order with due order, within each destination (each has its own breaker:
 * one comes back, and releases its backlog, at its own time). A worker that starts deliveries in the order they come
 * due, `concurrency` at a time, lets a delivery be overtaken only by the ones running beside it:
 * fewer than `concurrency` deliveries due after it may reach the pipeline before it. That is the
 * criterion of `inOrder`. Time margins are reported, not judged: deliveries released together
 * (a backlog a closing breaker lets go) run side by side whatever their due times were.
 */
export function retryOrder(deliveries: readonly DueDelivery[], concurrency: number): RetryOrder {
  const byArrival = [...deliveries].sort((a, b) => a.deliveredAt - b.deliveredAt);
  let inversions = 0;
  let worst = 0;
  let heldBack = 0;
  let most = 0;
  for (let i = 0; i < byArrival.length; i++) {
    const late = byArrival[i];
    if (!late) continue;
    let overtakers = 0;
    for (let j = 0; j < i; j++) {
      const early = byArrival[j];
      if (!early || early.deliveredAt === late.deliveredAt || early.dueAt <= late.dueAt) continue;
      if (early.destination !== late.destination) continue;
      overtakers += 1;
      worst = Math.max(worst, early.dueAt - late.dueAt);
      heldBack = Math.max(heldBack, late.deliveredAt - early.deliveredAt);
    }
    inversions += overtakers;
    most = Math.max(most, overtakers);
  }
  return {
    checked: deliveries.length,
    inversions,
    worstOvertakeMs: worst,
    worstHeldBackMs: heldBack,
    mostOvertaken: most,
    inOrder: most < concurrency,
  };
}
