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

// A Redis without persistence that restarts comes back empty: no ingest stream, no consumer
// group, no queues. The processes must notice and carry on (no NOGROUP wedge), not wait for
// someone to restart them.
describe('Redis restarted without its data', () => {
  let redis: TestRedis;
  let stack: Stack;
  let pipeline: TestPipeline;
  const secrets = new Map<string, string>();
  const client = () => createGatewayClient({ baseUrl: stack.gatewayUrl, token: API_TOKEN });

  beforeAll(async () => {
    redis = await startRedis();
    pipeline = await startTestPipeline((path) => secrets.get(path) ?? 'whsec_missing');
    stack = await startStack(redis);
  });
  afterAll(async () => {
    await stack?.stop();
    await pipeline?.close();
    await redis?.close();
  });

  const event = (id: string) => ({
    event_id: id,
    event_type: 'parse.running',
    timestamp: Date.now() / 1000,
    data: { id: 'job', job_id: 'job' },
  });
  const deliverOne = async (path: string) => {
    const registration = await client().register({ deliverTo: pipeline.url(path) });
    secrets.set(path, registration.deliverySecret);
    const response = await postCallback(stack, registration.callbackUrl, event(`evt-${path}`));
    expect(response.status).toBe(202);
    await until(() => pipeline.receipts.some((receipt) => receipt.path === path));
    return registration;
  };

  it('keeps the same gateway and worker delivering once Redis is back, empty', async () => {
    const before = await deliverOne('/before');
    const gatewayPid = stack.gateway.child.pid;
    const workerPid = stack.worker.child.pid;

    await redis.restart();
    expect(redis.running).toBe(true);
    const ready = async (url: string) => (await fetch(`${url}/readyz`)).status === 200;
    await until(async () => (await ready(stack.gatewayUrl)) && (await ready(stack.workerUrl)));

    // Redis came back empty: the registration issued before is gone with it.
    const stale = await postCallback(stack, before.callbackUrl, event('evt-stale'));
    expect(stale.status).toBe(404);

    await deliverOne('/after');
    expect(pipeline.rejected).toEqual([]);
    expect(stack.gateway.child.pid).toBe(gatewayPid);
    expect(stack.worker.child.pid).toBe(workerPid);
  });
});
