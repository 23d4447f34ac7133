import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { postCallback, until, useE2eWorld, type E2eWorld } from './stack.js';

// One bad pipeline never slows the others: the real gateway and worker, a real Redis, and
// pipelines on loopback that fail, hang, or answer with huge bodies.

const running = (eventId: string) => ({
  event_id: eventId,
  event_type: 'parse.running',
  data: { job_id: `job-${eventId}` },
});

/** A pipeline server on a port (an origin) of its own, answering as `answer` decides. */
async function startServer(
  answer: (path: string, response: ServerResponse) => void,
): Promise<{ url(path: string): string; open: Set<ServerResponse>; close(): Promise<void> }> {
  const open = new Set<ServerResponse>();
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      open.add(response);
      response.on('close', () => open.delete(response));
      answer(request.url ?? '/', response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    open,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function registerAt(world: E2eWorld, deliverTo: string) {
  return world.client().register({ deliverTo });
}

async function workerMetrics(world: E2eWorld): Promise<string> {
  return (await fetch(`${world.stack.workerUrl}/metrics`)).text();
}

describe('a path that keeps failing', () => {
  const world = useE2eWorld({
    env: {
      DELIVERY_BREAKER_FAILURES: '3',
      DELIVERY_BREAKER_OPEN_MS: '60000',
      DELIVERY_RETRY_SCHEDULE: '0,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2',
    },
  });

  it('keeps delivering to healthy paths on the origin of a path whose breaker is open', async () => {
    world.pipeline.on('/failing', () => ({ status: 500 }));
    const failing = await world.register('/failing');
    for (let i = 0; i < 4; i++) {
      await postCallback(world.stack, failing.callbackUrl, running(`failing-${i}`));
    }
    await until(async () =>
      /cbgw_breaker_state\{[^}]*destination="[^"]*\/failing",level="destination",state="open"/.test(
        await workerMetrics(world),
      ),
    );
    const healthy = await Promise.all(['/fine-1', '/fine-2'].map((path) => world.register(path)));
    const sent = Date.now();
    for (const [i, registration] of healthy.entries()) {
      await postCallback(world.stack, registration.callbackUrl, running(`fine-${i}`));
    }
    // Held by the failing path's breaker, they would wait its 60 s.
    await until(
      () =>
        ['/fine-1', '/fine-2'].every((path) =>
          world.pipeline.receipts.some((r) => r.path === path),
        ),
      10_000,
    );
    expect(Date.now() - sent).toBeLessThan(5_000);
    // One failing path of three active ones: the origin itself stays closed.
    expect(await workerMetrics(world)).not.toMatch(/cbgw_breaker_state\{[^}]*level="origin"/);
  });
});

describe('a host most of whose paths fail', () => {
  const world = useE2eWorld({
    env: {
      DELIVERY_BREAKER_FAILURES: '2',
      DELIVERY_BREAKER_OPEN_MS: '1000',
      DELIVERY_RETRY_SCHEDULE: '0,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2,0.2',
    },
  });

  it('opens the origin breaker, then lets its probe reach a path that can succeed', async () => {
    let down = true;
    const received: string[] = [];
    // Four paths fail; then two keep failing and two recover.
    const host = await startServer((path, response) => {
      received.push(path);
      const failsForGood = ['/job-1', '/job-2'].includes(path);
      response.writeHead(down || failsForGood ? 503 : 200).end();
    });
    try {
      const jobs = await Promise.all(
        [1, 2, 3, 4].map((i) => registerAt(world, host.url(`/job-${i}`))),
      );
      for (const [i, registration] of jobs.entries()) {
        for (let n = 0; n < 2; n++) {
          await postCallback(world.stack, registration.callbackUrl, running(`host-${i}-${n}`));
        }
      }
      await until(async () =>
        /cbgw_breaker_state\{[^}]*level="origin",state="open"/.test(await workerMetrics(world)),
      );
      down = false;
      const fresh = await registerAt(world, host.url('/job-new'));
      await postCallback(world.stack, fresh.callbackUrl, running('host-new'));
      // The recovered paths and the new one are delivered, and the origin closes (2 of its 5
      // destinations still fail: not most); the paths that still fail keep their own breakers.
      await until(async () => {
        const states = await Promise.all(
          [jobs[2], jobs[3], fresh].map((r) => world.client().status(r?.id ?? '')),
        );
        return states.every((s) => s.deliveries.every((d) => d.state === 'delivered'));
      }, 20_000);
      const metrics = await workerMetrics(world);
      expect(metrics).not.toMatch(/cbgw_breaker_state\{[^}]*level="origin"/);
      expect(metrics).toMatch(
        /cbgw_breaker_state\{[^}]*destination="[^"]*\/job-1",level="destination"/,
      );
      expect(received.filter((path) => path === '/job-new')).toEqual(['/job-new']);
    } finally {
      await host.close();
    }
  });
});

describe('a pipeline that hangs', () => {
  const world = useE2eWorld({
    env: {
      DELIVERY_TIMEOUT_MS: '20000',
      DELIVERY_HEADERS_TIMEOUT_MS: '20000',
      DELIVERY_MAX_IN_FLIGHT_PER_ORIGIN: '5',
      DELIVERY_RETRY_SCHEDULE: '0,60',
    },
  });

  it('holds no more than its share of the worker: another origin is delivered at once', async () => {
    let mostOpen = 0;
    const hung = await startServer(() => {
      mostOpen = Math.max(mostOpen, hung.open.size);
    });
    try {
      const registration = await registerAt(world, hung.url('/never-answers'));
      await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          postCallback(world.stack, registration.callbackUrl, running(`hung-${i}`)),
        ),
      );
      await until(() => hung.open.size >= 5, 10_000);
      const healthy = await world.register('/beside-the-hung-one');
      const sent = Date.now();
      await postCallback(world.stack, healthy.callbackUrl, running('beside'));
      // Behind 50 hung requests it would wait out their 20 s timeout.
      await until(
        () => world.pipeline.receipts.some((r) => r.path === '/beside-the-hung-one'),
        15_000,
      );
      expect(Date.now() - sent).toBeLessThan(3_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      // DELIVERY_MAX_IN_FLIGHT_PER_ORIGIN reaches the worker: 5 at most, of 60 due.
      expect(mostOpen).toBe(5);
    } finally {
      for (const response of hung.open) response.destroy();
      await hung.close();
    }
  });
});

describe('pipelines answering huge or endless bodies', () => {
  const world = useE2eWorld({
    env: { DELIVERY_TIMEOUT_MS: '20000', DELIVERY_RETRY_SCHEDULE: '0,60' },
  });

  it('reads a few KiB of each answer: 150 MB error bodies cost the worker no memory', async () => {
    const chunk = Buffer.alloc(1024 * 1024, 'x');
    const huge = await startServer((_path, response) => {
      response.writeHead(500, { 'content-type': 'text/plain' });
      let sent = 0;
      const write = () => {
        while (sent < 150) {
          sent++;
          if (!response.write(chunk)) {
            response.once('drain', write);
            return;
          }
        }
        response.end();
      };
      response.on('error', () => undefined);
      write();
    });
    try {
      const worker = world.stack.worker;
      const rssMiB = () => (worker.rssBytes() ?? 0) / 1024 / 1024;
      const before = rssMiB();
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssMiB());
      }, 25);
      const registrations = await Promise.all(
        [1, 2, 3].map((i) => registerAt(world, huge.url(`/huge-${i}`))),
      );
      for (const [i, registration] of registrations.entries()) {
        await postCallback(world.stack, registration.callbackUrl, running(`huge-${i}`));
      }
      await until(async () => {
        const states = await Promise.all(registrations.map((r) => world.client().status(r.id)));
        return states.every((s) => s.deliveries.some((d) => d.lastStatus === 500));
      }, 30_000);
      clearInterval(sampler);
      const status = await world.client().status(registrations[0]?.id ?? '');
      expect(status.deliveries[0]?.lastError).toMatch(/^HTTP 500: x{10}/);
      // Without the bound, the three bodies were read whole: about +430 MiB.
      expect(peak - before).toBeLessThan(100);
    } finally {
      await huge.close();
    }
  });

  it('does not wait for an answer that trickles its body', async () => {
    const slow = await startServer((_path, response) => {
      response.writeHead(502, { 'content-type': 'text/plain' });
      const timer = setInterval(() => response.write('.'), 200);
      response.on('close', () => clearInterval(timer));
      response.on('error', () => undefined);
    });
    try {
      const registration = await registerAt(world, slow.url('/trickles'));
      const sent = Date.now();
      await postCallback(world.stack, registration.callbackUrl, running('trickle'));
      await until(async () => {
        const state = await world.client().status(registration.id);
        return state.deliveries.some((d) => d.lastStatus === 502);
      }, 30_000);
      // Reading it to the end would take the whole 20 s timeout.
      expect(Date.now() - sent).toBeLessThan(8_000);
    } finally {
      await slow.close();
    }
  });
});
