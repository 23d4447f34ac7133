import { memoryAuditLog } from '@callback-gateway/audit/testing';
import { manualClock } from '@callback-gateway/webhook-url/testing';
import { describe, expect, it } from 'vitest';
import { createRejectionAudit, OTHER_SOURCES } from './rejection-audit.js';

const NOT_FOUND = { code: 'not_found', status: 404, reason: 'unknown or expired callback URL' };

function setUp(options: { maxSources?: number } = {}) {
  const audit = memoryAuditLog();
  const clock = manualClock();
  const warnings: string[] = [];
  const rejections = createRejectionAudit({
    audit,
    actor: { kind: 'parser', id: 'llamaparse' },
    logger: { warn: (_fields: unknown, message?: string) => void warnings.push(message ?? '') },
    clock,
    ...options,
  });
  const records = () =>
    audit.ofType('callback.rejected').map((event) => ({
      at: event.at,
      address: event.data.source_address,
      count: event.data.count,
      since: event.data.since,
    }));
  return { rejections, clock, records, warnings };
}

describe('createRejectionAudit', () => {
  it('records the first rejection from an address at once, and the rest of its minute as one record with their count', () => {
    const { rejections, clock, records } = setUp();
    rejections.note('203.0.113.9', NOT_FOUND);
    expect(records()).toEqual([
      { at: expect.any(String), address: '203.0.113.9', count: 1, since: expect.any(String) },
    ]);
    clock.advance(1_000);
    for (let i = 0; i < 499; i++) rejections.note('203.0.113.9', NOT_FOUND);
    expect(records()).toHaveLength(1);
    clock.advance(59_000);
    expect(records()).toHaveLength(2);
    expect(records()[1]).toMatchObject({
      address: '203.0.113.9',
      count: 499,
      since: new Date(Date.UTC(2025, 0, 1) + 1_000).toISOString(),
    });
  });

  it('writes one record a minute for a sender that keeps going, and starts afresh after a quiet minute', () => {
    const { rejections, clock, records } = setUp();
    for (let minute = 0; minute < 5; minute++) {
      for (let i = 0; i < 100; i++) rejections.note('198.51.100.7', NOT_FOUND);
      clock.advance(60_000);
    }
    // The first at once, then one per minute.
    expect(records().map((record) => record.count)).toEqual([1, 99, 100, 100, 100, 100]);
    clock.advance(60_000);
    rejections.note('198.51.100.7', NOT_FOUND);
    expect(records().at(-1)?.count).toBe(1);
    expect(records()).toHaveLength(7);
  });

  it('tracks a bounded number of addresses, and counts the others together', () => {
    const { rejections, clock, records, warnings } = setUp({ maxSources: 3 });
    for (let i = 0; i < 10; i++) rejections.note(`192.0.2.${i}`, NOT_FOUND);
    expect(records().map((record) => record.address)).toEqual([
      '192.0.2.0',
      '192.0.2.1',
      '192.0.2.2',
      OTHER_SOURCES,
    ]);
    expect(warnings).toHaveLength(1);
    clock.advance(60_000);
    // The other addresses after the first of them: 6 more.
    expect(records().at(-1)).toMatchObject({ address: OTHER_SOURCES, count: 6 });
  });

  it('records what it still counts when closed, then nothing more', () => {
    const { rejections, clock, records } = setUp();
    rejections.note('203.0.113.9', NOT_FOUND);
    rejections.note('203.0.113.9', NOT_FOUND);
    rejections.note('203.0.113.9', NOT_FOUND);
    rejections.close();
    rejections.close();
    expect(records().map((record) => record.count)).toEqual([1, 2]);
    rejections.note('203.0.113.9', NOT_FOUND);
    clock.advance(120_000);
    expect(records()).toHaveLength(2);
  });
});
