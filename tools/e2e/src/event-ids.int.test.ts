import { storeKeys } from '@callback-gateway/store';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { until, useE2eWorld } from './stack.js';

/** A registration's audit records of one type, parsed, from its audit stream. */
async function auditRecords(redisUrl: string, registrationId: string, type: string) {
  const store = new Redis(redisUrl);
  try {
    const entries = await store.xrange(storeKeys().registrationAudit(registrationId), '-', '+');
    return entries
      .map(([, fields]) => JSON.parse(fields[fields.indexOf('e') + 1] ?? 'null') as unknown)
      .filter(
        (event): event is { type: string; data: Record<string, unknown> } =>
          typeof event === 'object' &&
          event !== null &&
          (event as { type?: unknown }).type === type,
      );
  } finally {
    store.disconnect();
  }
}

describe('numeric event ids, end to end', () => {
  const world = useE2eWorld();

  it('stores and delivers two events whose numeric ids differ only past 2^53, never merging them', async () => {
    const registration = await world.register('/numeric-ids');
    const path = new URL(registration.callbackUrl).pathname;
    // Written by hand: JSON.stringify cannot hold these numbers.
    const post = (eventId: string) =>
      fetch(`${world.stack.gatewayUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"event_id":${eventId},"event_type":"parse.running","data":{"job_id":"job-ids"}}`,
      });
    const ids = ['12345678901234567890', '12345678901234567891'];
    const answers = [];
    for (const id of ids) {
      const response = await post(id);
      answers.push({ status: response.status, body: (await response.json()) as unknown });
    }
    expect(answers.map((answer) => answer.status)).toEqual([202, 202]);
    const callbackIds = answers.map(
      (answer) => (answer.body as { callback_id: string }).callback_id,
    );
    expect(new Set(callbackIds).size).toBe(2);
    // A true repeat of the first is still a duplicate.
    const repeat = await post(ids[0] ?? '');
    expect(repeat.status).toBe(200);
    expect(await repeat.json()).toEqual({ duplicate: true, callback_id: callbackIds[0] });

    const receipts = () => world.pipeline.receipts.filter((entry) => entry.path === '/numeric-ids');
    await until(() => receipts().length === 2);
    const delivered = receipts().map((receipt) => receipt.raw);
    for (const id of ids) {
      expect(delivered.filter((raw) => raw.includes(`"event_id":${id}`))).toHaveLength(1);
    }
    expect(new Set(receipts().map((receipt) => receipt.delivery.webhookId))).toEqual(
      new Set(callbackIds),
    );
    const received = () => auditRecords(world.redis.url, registration.id, 'callback.received');
    await until(async () => (await received()).length >= 2);
    expect((await received()).map((event) => event.data['event_id']).sort()).toEqual(ids);
    expect(world.pipeline.rejected).toEqual([]);
  });
});
