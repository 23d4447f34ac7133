import { describe, expect, it } from 'vitest';
import { Ledger } from './ledger.js';

const accepted = (ledger: Ledger, id: string) =>
  ledger.recordSend({
    eventId: `e-${id}`,
    path: '/in',
    outcome: 'accepted',
    status: 202,
    callbackId: id,
    at: 0,
  });

describe('the zero-loss ledger', () => {
  it('counts an acknowledged callback delivered once as delivered, not lost', () => {
    const ledger = new Ledger();
    accepted(ledger, 'a');
    ledger.recordReceipt('a');
    expect(ledger.account(new Set())).toMatchObject({ acknowledged: 1, delivered: 1, lost: 0 });
  });

  it('counts a dead-lettered callback as resolved, and a delivered one only as delivered', () => {
    const ledger = new Ledger();
    accepted(ledger, 'a');
    accepted(ledger, 'b');
    ledger.recordReceipt('b');
    const figures = ledger.account(new Set(['a', 'b']));
    expect(figures).toMatchObject({ delivered: 1, deadLettered: 1, lost: 0 });
  });

  it('reports an acknowledged callback neither delivered nor dead-lettered as lost', () => {
    const ledger = new Ledger();
    accepted(ledger, 'a');
    accepted(ledger, 'b');
    ledger.recordReceipt('a');
    expect(ledger.unresolved()).toEqual(['b']);
    expect(ledger.account(new Set())).toMatchObject({ lost: 1, acknowledgedThenLost: 0 });
    expect(ledger.account(new Set(), new Set(['b']))).toMatchObject({
      lost: 1,
      acknowledgedThenLost: 1,
    });
  });

  it('counts repeated receipts of one webhook-id as duplicates, not as more deliveries', () => {
    const ledger = new Ledger();
    accepted(ledger, 'a');
    ledger.recordReceipt('a');
    ledger.recordReceipt('a');
    expect(ledger.account(new Set())).toMatchObject({ delivered: 1, duplicates: 1, lost: 0 });
  });

  it('does not acknowledge 503s and send errors, and tells receipts of them apart', () => {
    const ledger = new Ledger();
    ledger.recordSend({ eventId: 'x', path: '/in', outcome: 'unavailable', status: 503, at: 0 });
    ledger.recordSend({ eventId: 'y', path: '/in', outcome: 'error', at: 0 });
    // A callback stored just before the gateway died: delivered, though its sender saw an error.
    ledger.recordReceipt('stored-before-the-crash');
    expect(ledger.account(new Set())).toMatchObject({
      sent: 2,
      acknowledged: 0,
      unavailable: 1,
      errors: 1,
      lost: 0,
      deliveredUnacknowledged: 1,
    });
  });

  it('treats a duplicate answer as acknowledged but unmatched, since senders never repeat', () => {
    const ledger = new Ledger();
    ledger.recordSend({ eventId: 'x', path: '/in', outcome: 'duplicate', status: 200, at: 0 });
    expect(ledger.account(new Set())).toMatchObject({ acknowledged: 1, lost: 1 });
  });

  it('keeps final deliveries per registration, telling a repeat from a second final', () => {
    const ledger = new Ledger();
    const detail = (registrationId: string, type: string, reconciled = false) => ({
      registrationId,
      type,
      reconciled,
    });
    ledger.recordReceipt('progress', 1, detail('r1', 'parse.running'));
    ledger.recordReceipt('final-1', 2, detail('r1', 'parse.success'));
    ledger.recordReceipt('final-1', 3, detail('r1', 'parse.success'));
    ledger.recordReceipt('final-2', 4, detail('r2', 'parse.error', true));
    ledger.recordReceipt('final-3', 5, detail('r2', 'parse.success'));
    const r1 = ledger.finals.get('r1');
    expect(r1 && { ids: [...r1.webhookIds], receipts: r1.receipts, firstAt: r1.firstAt }).toEqual({
      ids: ['final-1'],
      receipts: 2,
      firstAt: 2,
    });
    const r2 = ledger.finals.get('r2');
    expect(r2 && { ids: r2.webhookIds.size, reconciled: r2.reconciled }).toEqual({
      ids: 2,
      reconciled: true,
    });
    // A receipt without detail (the load driver's pipelines of other scenarios) is not a final.
    ledger.recordReceipt('plain');
    expect(ledger.finals.size).toBe(2);
  });
});
