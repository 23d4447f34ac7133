import { createGatewayClient } from '@callback-gateway/client';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_TOKEN,
  postCallback,
  startStack,
  startTestPipeline,
  until,
  type Stack,
  type TestPipeline,
} from './stack.js';

const envelope = (eventId: string, eventType = 'parse.success') => ({
  event_id: eventId,
  event_type: eventType,
  timestamp: Date.now() / 1000,
  data: { id: 'job-e2e', job_id: 'job-e2e' },
});

describe('gateway and worker, end to end', () => {
  let redis: TestRedis;
  let stack: Stack;
  let pipeline: TestPipeline;
  const secrets = new Map<string, string>();
  const client = () => createGatewayClient({ baseUrl: stack.gatewayUrl, token: API_TOKEN });

  beforeAll(async () => {
    redis = await startRedis({ persistent: true });
    pipeline = await startTestPipeline((path) => secrets.get(path) ?? 'whsec_missing');
    // Two deliveries in flight at a time, so a kill finds most of a burst still queued.
    stack = await startStack(redis, { WORKER_CONCURRENCY: '2' });
  });
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
    await redis?.close();
  });

  const registerFor = async (path: string) => {
    const registration = await client().register({ deliverTo: pipeline.url(path) });
    secrets.set(path, registration.deliverySecret);
    return registration;
  };

  it('takes a parser callback to the pipeline, signed and verified by the client library', async () => {
    const registration = await registerFor('/docs');
    await client().attachJob(registration.id, 'job-e2e');
    const response = await postCallback(stack, registration.callbackUrl, envelope('evt-1'));
    expect(response.status).toBe(202);
    await until(() => pipeline.receipts.some((receipt) => receipt.path === '/docs'));
    const [receipt] = pipeline.receipts.filter((entry) => entry.path === '/docs');
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
    expect(pipeline.rejected).toEqual([]);
  });

  it('dead-letters a delivery the pipeline keeps refusing, and replays it through the API', async () => {
    let healthy = false;
    pipeline.on('/flaky', () => ({ status: healthy ? 200 : 500 }));
    const registration = await registerFor('/flaky');
    await postCallback(stack, registration.callbackUrl, envelope('evt-dl'));
    const auth = { authorization: `Bearer ${API_TOKEN}` };
    let deadLetterId = '';
    await until(async () => {
      const list = (await (
        await fetch(`${stack.gatewayUrl}/v1/deliveries?state=dead_lettered`, { headers: auth })
      ).json()) as {
        deliveries: { id: string; registration_id: string }[];
      };
      deadLetterId =
        list.deliveries.find((entry) => entry.registration_id === registration.id)?.id ?? '';
      return deadLetterId !== '';
    });
    const detail = (await (
      await fetch(`${stack.gatewayUrl}/v1/deliveries/${deadLetterId}`, { headers: auth })
    ).json()) as {
      attempt_log: { status: number }[];
      last_error: string;
    };
    expect(detail.attempt_log.map((attempt) => attempt.status)).toEqual([500, 500, 500, 500]);
    expect(detail.last_error).toContain('HTTP 500');

    healthy = true;
    const replay = await fetch(`${stack.gatewayUrl}/v1/deliveries/${deadLetterId}/replay`, {
      method: 'POST',
      headers: auth,
    });
    expect(replay.status).toBe(202);
    await until(() => pipeline.receipts.some((receipt) => receipt.path === '/flaky'));
    expect(pipeline.receipts.find((receipt) => receipt.path === '/flaky')?.delivery.webhookId).toBe(
      deadLetterId,
    );
    // Bulk: two more dead letters of another registration, replayed by one call. Progress
    // events: a registration has one final callback, but any number of these.
    let bulkHealthy = false;
    pipeline.on('/bulk', () => ({ status: bulkHealthy ? 200 : 500 }));
    const bulk = await registerFor('/bulk');
    await postCallback(stack, bulk.callbackUrl, envelope('evt-bulk-1', 'parse.running'));
    await postCallback(stack, bulk.callbackUrl, envelope('evt-bulk-2', 'parse.running'));
    await until(async () => {
      const view = await client().status(bulk.id);
      return (
        view.deliveries.length === 2 &&
        view.deliveries.every((entry) => entry.state === 'dead_lettered')
      );
    });
    bulkHealthy = true;
    const bulkReplay = await fetch(`${stack.gatewayUrl}/v1/deliveries/replay`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ registration_id: bulk.id }),
    });
    expect(bulkReplay.status).toBe(202);
    expect(((await bulkReplay.json()) as { replayed: number }).replayed).toBe(2);
    await until(() => pipeline.receipts.filter((receipt) => receipt.path === '/bulk').length === 2);

    const again = await fetch(`${stack.gatewayUrl}/v1/deliveries/${deadLetterId}/replay`, {
      method: 'POST',
      headers: auth,
    });
    expect([202, 409]).toContain(again.status);
  });

  it('finishes an in-flight delivery on SIGTERM before exiting', async () => {
    pipeline.on('/graceful', () => ({ status: 200, delayMs: 1_500 }));
    const registration = await registerFor('/graceful');
    await postCallback(stack, registration.callbackUrl, envelope('evt-graceful'));
    await until(() => pipeline.received.some((path) => path === '/graceful'));
    const exit = await stack.worker.stop('SIGTERM', 10_000);
    expect(exit).toBe(0);
    expect(pipeline.receipts.some((receipt) => receipt.path === '/graceful')).toBe(true);
    await stack.restartWorker();
  });

  it('loses nothing when the worker is killed (SIGKILL) mid-delivery', async () => {
    pipeline.on('/slow', () => ({ status: 200, delayMs: 1_000 }));
    const registration = await registerFor('/slow');
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const response = await postCallback(
        stack,
        registration.callbackUrl,
        envelope(`kill-${i}`, 'parse.running'),
      );
      expect(response.status).toBe(202);
      ids.push(((await response.json()) as { callback_id: string }).callback_id);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    await stack.worker.stop('SIGKILL');
    const arrivedBeforeRestart = pipeline.receipts.filter((r) => r.path === '/slow').length;
    expect(arrivedBeforeRestart).toBeLessThan(5);
    await stack.restartWorker();
    await until(
      () =>
        new Set(
          pipeline.receipts.filter((r) => r.path === '/slow').map((r) => r.delivery.webhookId),
        ).size === 20,
      40_000,
    );
    const received = pipeline.receipts.filter((receipt) => receipt.path === '/slow');
    // Every accepted callback arrived; a repeat is only ever the same webhook-id.
    expect(new Set(received.map((receipt) => receipt.delivery.webhookId))).toEqual(new Set(ids));
    expect(pipeline.rejected).toEqual([]);
  });
});
