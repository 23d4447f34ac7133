import { describe, expect, it } from 'vitest';
import { deliveriesOf, deliveryOfJobId, jobIds, type DeliveryJobData } from './jobs.js';

describe('delivery jobs', () => {
  it('reads the replay number of jobs queued before it was named replay (round)', () => {
    const queuedEarlier = {
      deliveries: [{ callbackId: 'cb_1', registrationId: 'reg_1', round: 2, attempt: 3 }],
    } as unknown as DeliveryJobData;
    expect(deliveriesOf(queuedEarlier)).toEqual([
      { callbackId: 'cb_1', registrationId: 'reg_1', replay: 2, attempt: 3 },
    ]);
    const current: DeliveryJobData = {
      deliveries: [{ callbackId: 'cb_2', registrationId: 'reg_1', replay: 0, attempt: 1 }],
    };
    expect(deliveriesOf(current)).toEqual(current.deliveries);
  });

  it('recovers the delivery a retry or wait job id stands for', () => {
    const callbackId = `cb_${'a'.repeat(32)}`;
    const delivery = { callbackId, registrationId: 'reg_9', replay: 1, attempt: 4 };
    expect(deliveryOfJobId(jobIds.retry(delivery), 'reg_9')).toEqual(delivery);
    const held = { ...delivery, holdOffsetMs: 7 };
    expect(deliveryOfJobId(jobIds.wait(held, 1_000), 'reg_9')).toEqual(held);
    expect(deliveryOfJobId(jobIds.batch('1-0'), 'reg_9')).toBeUndefined();
  });
});
