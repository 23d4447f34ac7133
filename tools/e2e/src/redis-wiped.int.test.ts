import { describe, expect, it } from 'vitest';
import { postCallback, until, useE2eWorld } from './stack.js';

// A Redis without persistence that restarts comes back empty: no ingest stream, no consumer
// group, no queues. The processes must notice and carry on (no NOGROUP wedge), not wait for
// someone to restart them.
describe('Redis restarted without its data', () => {
  const world = useE2eWorld();

  const event = (id: string) => ({
    event_id: id,
    event_type: 'parse.running',
    timestamp: Date.now() / 1000,
    data: { id: 'job', job_id: 'job' },
  });
  const deliverOne = async (path: string) => {
    const registration = await world.register(path);
    const response = await postCallback(
      world.stack,
      registration.callbackUrl,
      event(`evt-${path}`),
    );
    expect(response.status).toBe(202);
    await until(() => world.pipeline.receipts.some((receipt) => receipt.path === path));
    return registration;
  };

  it('keeps the same gateway and worker delivering once Redis is back, empty', async () => {
    const { redis, stack, pipeline } = world;
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
