import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  MAX_PARTITIONS,
  inPartition,
  partitionOf,
  partitionTag,
  storeKeys,
  withoutPartition,
} from './keys.js';

const keySlot = createRequire(import.meta.url)('cluster-key-slot') as (key: string) => number;

describe('the partitioned key layout', () => {
  it('is the single-Redis layout with one partition', () => {
    const keys = storeKeys();
    expect(keys.partitions).toBe(1);
    expect(keys.all).toHaveLength(1);
    expect(keys.tag).toBe('{cbgw}');
    expect(keys.registration('reg_1')).toBe('{cbgw}:reg:reg_1');
    expect(keys.token('abc')).toBe('{cbgw}:tok:abc');
    expect(keys.callback('cb_1')).toBe('{cbgw}:cb:cb_1');
    expect(keys.delivery('cb_1')).toBe('{cbgw}:dl:cb_1');
    expect(keys.dedup('reg_1', 'h')).toBe('{cbgw}:dedup:reg_1:h');
    expect(keys.deliveryState('queued')).toBe('{cbgw}:state:queued');
    expect(keys.ingest).toBe('{cbgw}:ingest');
    expect(keys.waiting).toBe('{cbgw}:waiting');
    expect(keys.history(60_000)).toBe('{cbgw}:hist:60000');
  });

  it('finds every key of an id in its own partition, whichever partition builds it', () => {
    const keys = storeKeys('cbgw', { partitions: 16 });
    const registration = inPartition('reg_0123', 5);
    const callback = inPartition('cb_0123', 5);
    const five = keys.all[5];
    expect(five?.partition).toBe(5);
    for (const builder of [keys, keys.all[3], five]) {
      expect(builder?.registration(registration)).toBe(`${five?.tag}:reg:${registration}`);
      expect(builder?.callback(callback)).toBe(`${five?.tag}:cb:${callback}`);
      expect(builder?.delivery(callback)).toBe(`${five?.tag}:dl:${callback}`);
      expect(builder?.final(registration)).toBe(`${five?.tag}:final:${registration}`);
      expect(builder?.dedup(registration, 'h')).toBe(`${five?.tag}:dedup:${registration}:h`);
    }
    expect(keys.of(registration)).toBe(five);
    expect(keys.of('reg_0123')).toBe(keys);
    expect(five?.ingest).toBe(`${five?.tag}:ingest`);
    // What spans the deployment stays under partition 0's tag.
    expect(five?.workers).toBe('{cbgw}:workers');
    expect(five?.parseJob('job')).toBe('{cbgw}:job:job');
  });

  it('reads the partition back from an id or a token, and only from its marker', () => {
    expect(partitionOf('reg_abc')).toBe(0);
    expect(partitionOf('reg_abc.p7')).toBe(7);
    expect(partitionOf(inPartition('A-b_c', 255))).toBe(255);
    expect(inPartition('reg_abc', 0)).toBe('reg_abc');
    expect(withoutPartition('reg_abc.p12')).toBe('reg_abc');
    // A base64url token can end with "_p1": not a marker (the marker's dot is not base64url).
    expect(partitionOf('abc_p1')).toBe(0);
    expect(partitionOf('abc.p999')).toBe(0);
  });

  it('spreads 16 partitions evenly over three masters of equal slot ranges', () => {
    for (const prefix of ['cbgw', 'acme', 't1']) {
      const masters = [0, 0, 0];
      for (let partition = 0; partition < 16; partition++) {
        const slot = keySlot(partitionTag(prefix, partition));
        const master = slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2;
        masters[master] = (masters[master] ?? 0) + 1;
      }
      // 16 / 3 = 5.3: 5 or 6 each.
      for (const count of masters) expect([5, 6]).toContain(count);
    }
  });

  it('gives every partition its own slot and the same tag whatever the partition count', () => {
    const slots = new Set<number>();
    for (let partition = 0; partition < MAX_PARTITIONS; partition++) {
      slots.add(keySlot(partitionTag('cbgw', partition)));
    }
    expect(slots.size).toBe(MAX_PARTITIONS);
    expect(storeKeys('cbgw', { partitions: 4 }).all[3]?.tag).toBe(
      storeKeys('cbgw', { partitions: 64 }).all[3]?.tag,
    );
  });

  it('refuses a partition count out of range', () => {
    expect(() => storeKeys('cbgw', { partitions: 0 })).toThrow(/1 to 256/);
    expect(() => storeKeys('cbgw', { partitions: 257 })).toThrow(/1 to 256/);
  });
});
