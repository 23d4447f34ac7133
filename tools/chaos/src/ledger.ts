/** How the gateway answered one callback a sender posted. */
export type SendOutcome =
  /** `202`: stored and queued; the gateway owes a delivery or a dead letter. */
  | 'accepted'
  /** `200 {"duplicate":true}`: already stored under the same `event_id`. */
  | 'duplicate'
  /** `503`: nothing stored (Redis away, or the gateway shutting down). */
  | 'unavailable'
  /** Any other status. */
  | 'refused'
  /** No answer at all: connection refused or reset, or the sender's timeout. */
  | 'error';

/** One callback a sender posted, and what came back. */
export interface SendRecord {
  eventId: string;
  /** The registration's pipeline path the delivery should reach. */
  path: string;
  outcome: SendOutcome;
  status?: number;
  /** `callback_id` of a `202`: the delivery's `webhook-id`. */
  callbackId?: string;
  at: number;
}

/** What a pipeline read in one verified delivery, beyond its `webhook-id`. */
export interface ReceiptDetail {
  registrationId: string;
  /** The delivery's `type` (`parse.running`, `parse.success`, ...). */
  type: string;
  /** True when the worker recovered it from the parser rather than from a callback. */
  reconciled: boolean;
}

/** The event types that end a parse job: a registration takes one of them, once. */
export const FINAL_EVENT_TYPES: ReadonlySet<string> = new Set([
  'parse.success',
  'parse.partial_success',
  'parse.error',
  'parse.cancelled',
]);

/** The final deliveries one registration's pipeline received. */
export interface FinalReceipts {
  /** Distinct `webhook-id`s of final deliveries (more than one is a second final callback). */
  webhookIds: Set<string>;
  /** Final receipts, repeats of one `webhook-id` included. */
  receipts: number;
  /** Whether a final delivery was a reconciled one. */
  reconciled: boolean;
  /** First receipt of a final delivery. */
  firstAt: number;
}

/** What one scenario proved, after the system drained. */
export interface Accounting {
  /** Callbacks posted. */
  sent: number;
  /** Answered 2xx (202 stored and queued, or 200 duplicate). */
  acknowledged: number;
  /** Acknowledged and received by a pipeline (by `webhook-id`) at least once. */
  delivered: number;
  /** Acknowledged, never received, and listed by the gateway as dead-lettered. */
  deadLettered: number;
  /** Acknowledged and neither delivered nor dead-lettered: must be 0. */
  lost: number;
  /** Of those lost, the ones the gateway has no record of at all (a 2xx for a callback it dropped). */
  acknowledgedThenLost: number;
  /** Extra receipts of a `webhook-id` already received (at-least-once delivery allows them). */
  duplicates: number;
  /** Answers `503` (nothing stored, the sender should retry). */
  unavailable: number;
  /** Sends with no answer (connection refused, reset, timeout). */
  errors: number;
  /** Receipts of a callback that was never acknowledged (its sender saw an error): not a loss. */
  deliveredUnacknowledged: number;
}

/**
 * Every callback sent, with its HTTP outcome, and every pipeline receipt by `webhook-id`.
 * At the end, {@link Ledger.account} checks the invariant: every acknowledged callback was
 * delivered or dead-lettered.
 */
export class Ledger {
  readonly sends: SendRecord[] = [];
  /** Receipts per `webhook-id` (a count above 1 is a duplicate delivery). */
  readonly receipts = new Map<string, number>();
  /** First receipt time per `webhook-id`. */
  readonly firstReceiptAt = new Map<string, number>();
  /** Final deliveries per registration (receipts recorded with a {@link ReceiptDetail}). */
  readonly finals = new Map<string, FinalReceipts>();

  recordSend(record: SendRecord): void {
    this.sends.push(record);
  }

  recordReceipt(webhookId: string, at = Date.now(), detail?: ReceiptDetail): void {
    this.receipts.set(webhookId, (this.receipts.get(webhookId) ?? 0) + 1);
    if (!this.firstReceiptAt.has(webhookId)) this.firstReceiptAt.set(webhookId, at);
    if (!detail || !FINAL_EVENT_TYPES.has(detail.type)) return;
    const entry = this.finals.get(detail.registrationId) ?? {
      webhookIds: new Set<string>(),
      receipts: 0,
      reconciled: false,
      firstAt: at,
    };
    entry.webhookIds.add(webhookId);
    entry.receipts += 1;
    entry.reconciled ||= detail.reconciled;
    this.finals.set(detail.registrationId, entry);
  }

  /** Callback ids of every `202`. */
  acceptedIds(): string[] {
    return this.sends.flatMap((send) => (send.callbackId ? [send.callbackId] : []));
  }

  /** Accepted callbacks not yet received, nor in `deadLettered`. */
  unresolved(deadLettered: ReadonlySet<string> = new Set()): string[] {
    return this.acceptedIds().filter((id) => !this.receipts.has(id) && !deadLettered.has(id));
  }

  count(outcome: SendOutcome, since = 0): number {
    return this.sends.filter((send) => send.outcome === outcome && send.at >= since).length;
  }

  /**
   * The figures. `deadLettered` are the gateway's dead letters; `unknown` the acknowledged ids
   * the gateway has no record of (404), which makes a loss a 2xx-then-lost one.
   */
  account(deadLettered: ReadonlySet<string>, unknown: ReadonlySet<string> = new Set()): Accounting {
    const accepted = this.acceptedIds();
    const acceptedSet = new Set(accepted);
    const delivered = accepted.filter((id) => this.receipts.has(id)).length;
    const dead = accepted.filter((id) => !this.receipts.has(id) && deadLettered.has(id)).length;
    const lostIds = this.unresolved(deadLettered);
    // A 200 duplicate carries no callback id: it acknowledges one stored earlier. Senders here
    // never repeat an event id, so any duplicate answer is counted as acknowledged and unmatched,
    // which makes it a loss unless explained.
    const duplicateAnswers = this.count('duplicate');
    let duplicates = 0;
    let deliveredUnacknowledged = 0;
    for (const [id, times] of this.receipts) {
      duplicates += times - 1;
      if (!acceptedSet.has(id)) deliveredUnacknowledged += 1;
    }
    return {
      sent: this.sends.length,
      acknowledged: accepted.length + duplicateAnswers,
      delivered,
      deadLettered: dead,
      lost: lostIds.length + duplicateAnswers,
      acknowledgedThenLost: lostIds.filter((id) => unknown.has(id)).length,
      duplicates,
      unavailable: this.count('unavailable'),
      errors: this.count('error'),
      deliveredUnacknowledged,
    };
  }
}
