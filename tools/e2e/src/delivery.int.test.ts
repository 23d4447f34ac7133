import { describe, expect, it } from 'vitest';
import { API_TOKEN, postCallback, until, useE2eWorld } from './stack.js';

const envelope = (eventId: string, eventType = 'parse.success') => ({
  event_id: eventId,
  event_type: eventType,
  timestamp: Date.now() / 1000,
  data: { id: 'job-e2e', job_id: 'job-e2e' },
});

describe('gateway and worker, end to end', () => {
  // Redis with persistence; two deliveries in flight at a time, so a kill finds most of a
  // burst still queued.
  const world = useE2eWorld({ redis: { persistent: true }, env: { WORKER_CONCURRENCY: '2' } });
  const client = () => world.client();
  const registerFor = (path: string) => world.register(path);

  it('takes a parser callback to the pipeline, signed and verified by the client library', async () => {
    const registration = await registerFor('/docs');
    await client().attachJob(registration.id, 'job-e2e');
    const response = await postCallback(world.stack, registration.callbackUrl, envelope('evt-1'));
    expect(response.status).toBe(202);
    await until(() => world.pipeline.receipts.some((receipt) => receipt.path === '/docs'));
    const [receipt] = world.pipeline.receipts.filter((entry) => entry.path === '/docs');
    expect(receipt?.delivery).toMatchObject({
      type: 'parse.success',
      registrationId: registration.id,
      parseJobId: 'job-e2e',
      format: 'event',
      payload: { event_id: 'evt-1' },
    });
    await until(async () => (await client().status(registration.id)).state === 'delivered');
    const status = await client().status(registration.id);
    expect(status.deliveries).toHaveLength(1);
    expect(status.deliveries[0]).toMatchObject({
      state: 'delivered',
      attempts: 1,
      lastStatus: 200,
    });
    expect(status.deliveries[0]?.id).toBe(receipt?.delivery.webhookId);
    expect(world.pipeline.rejected).toEqual([]);
  });

  it('dead-letters a delivery the pipeline keeps refusing, and replays it through the API', async () => {
    let healthy = false;
    world.pipeline.on('/flaky', () => ({ status: healthy ? 200 : 500 }));
    const registration = await registerFor('/flaky');
    await postCallback(world.stack, registration.callbackUrl, envelope('evt-dl'));
    const auth = { authorization: `Bearer ${API_TOKEN}` };
    let deadLetterId = '';
    await until(async () => {
      const list = (await (
        await fetch(`${world.stack.gatewayUrl}/v1/deliveries?state=dead_lettered`, {
          headers: auth,
        })
      ).json()) as {
        deliveries: { id: string; registration_id: string }[];
      };
      deadLetterId =
        list.deliveries.find((entry) => entry.registration_id === registration.id)?.id ?? '';
      return deadLetterId !== '';
    });
    const detail = (await (
      await fetch(`${world.stack.gatewayUrl}/v1/deliveries/${deadLetterId}`, { headers: auth })
    ).json()) as {
      attempt_log: { status: number }[];
      last_error: string;
    };
    expect(detail.attempt_log.map((attempt) => attempt.status)).toEqual([500, 500, 500, 500]);
    expect(detail.last_error).toContain('HTTP 500');

    healthy = true;
    const replay = await fetch(`${world.stack.gatewayUrl}/v1/deliveries/${deadLetterId}/replay`, {
      method: 'POST',
      headers: auth,
    });
    expect(replay.status).toBe(202);
    await until(() => world.pipeline.receipts.some((receipt) => receipt.path === '/flaky'));
    expect(
      world.pipeline.receipts.find((receipt) => receipt.path === '/flaky')?.delivery.webhookId,
    ).toBe(deadLetterId);
    // Bulk: two more dead letters of another registration, replayed by one call. Progress
    // events: a registration has one final callback, but any number of these.
    let bulkHealthy = false;
    world.pipeline.on('/bulk', () => ({ status: bulkHealthy ? 200 : 500 }));
    const bulk = await registerFor('/bulk');
    await postCallback(world.stack, bulk.callbackUrl, envelope('evt-bulk-1', 'parse.running'));
    await postCallback(world.stack, bulk.callbackUrl, envelope('evt-bulk-2', 'parse.running'));
    await until(async () => {
      const view = await client().status(bulk.id);
      return (
        view.deliveries.length === 2 &&
        view.deliveries.every((entry) => entry.state === 'dead_lettered')
      );
    });
    bulkHealthy = true;
    const bulkReplay = await fetch(`${world.stack.gatewayUrl}/v1/deliveries/replay`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ registration_id: bulk.id }),
    });
    expect(bulkReplay.status).toBe(202);
    expect(((await bulkReplay.json()) as { replayed: number }).replayed).toBe(2);
    await until(
      () => world.pipeline.receipts.filter((receipt) => receipt.path === '/bulk').length === 2,
    );

    const again = await fetch(`${world.stack.gatewayUrl}/v1/deliveries/${deadLetterId}/replay`, {
      method: 'POST',
      headers: auth,
    });
    expect([202, 409]).toContain(again.status);
  });

  it('finishes an in-flight delivery on SIGTERM before exiting', async () => {
    world.pipeline.on('/graceful', () => ({ status: 200, delayMs: 1_500 }));
    const registration = await registerFor('/graceful');
    await postCallback(world.stack, registration.callbackUrl, envelope('evt-graceful'));
    await until(() => world.pipeline.received.some((path) => path === '/graceful'));
    const exit = await world.stack.worker.stop('SIGTERM', 10_000);
    expect(exit).toBe(0);
    expect(world.pipeline.receipts.some((receipt) => receipt.path === '/graceful')).toBe(true);
    await world.stack.restartWorker();
  });

  it('loses nothing when the worker is killed (SIGKILL) mid-delivery', async () => {
    world.pipeline.on('/slow', () => ({ status: 200, delayMs: 1_000 }));
    const registration = await registerFor('/slow');
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const response = await postCallback(
        world.stack,
        registration.callbackUrl,
        envelope(`kill-${i}`, 'parse.running'),
      );
      expect(response.status).toBe(202);
      ids.push(((await response.json()) as { callback_id: string }).callback_id);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    await world.stack.worker.stop('SIGKILL');
    const arrivedBeforeRestart = world.pipeline.receipts.filter((r) => r.path === '/slow').length;
    expect(arrivedBeforeRestart).toBeLessThan(5);
    await world.stack.restartWorker();
    await until(
      () =>
        new Set(
          world.pipeline.receipts
            .filter((r) => r.path === '/slow')
            .map((r) => r.delivery.webhookId),
        ).size === 20,
      40_000,
    );
    const received = world.pipeline.receipts.filter((receipt) => receipt.path === '/slow');
    // Every accepted callback arrived; a repeat is only ever the same webhook-id.
    expect(new Set(received.map((receipt) => receipt.delivery.webhookId))).toEqual(new Set(ids));
    expect(world.pipeline.rejected).toEqual([]);
  });
});
