import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import {
  auditEvents,
  drain,
  inWorld,
  metric,
  openWorld,
  type ScenarioResult,
  type ScenarioSize,
  type World,
} from './harness.js';
import { describeLoad, startLoad, type LoadOptions } from './load.js';
import type { Registration } from './stack.js';
import { sleep } from './stack.js';

const pick = <T>(size: ScenarioSize, short: T, full: T): T => (size === 'short' ? short : full);

/** The largest resident memory the world's gateway and worker reached while sampled. */
function sampleMemory(world: World): () => { gatewayMiB: number; workerMiB: number } {
  let gateway = 0;
  let worker = 0;
  const take = () => {
    gateway = Math.max(gateway, world.stack.gateway.rssBytes() ?? 0);
    worker = Math.max(worker, world.stack.worker.rssBytes() ?? 0);
  };
  take();
  const timer = setInterval(take, 100);
  return () => {
    clearInterval(timer);
    take();
    const mib = (bytes: number) => Math.round(bytes / 1024 / 1024);
    return { gatewayMiB: mib(gateway), workerMiB: mib(worker) };
  };
}

/** The 99th percentile of how long acknowledged sends to `paths`, made within [from, to),
 * took to reach their pipeline (ms). */
function p99DeliveryMs(world: World, paths: ReadonlySet<string>, from: number, to: number) {
  const latencies = world.ledger.sends
    .filter((s) => s.callbackId && paths.has(s.path) && s.at >= from && s.at < to)
    .map((s) => (world.ledger.firstReceiptAt.get(s.callbackId ?? '') ?? Infinity) - s.at)
    .sort((a, b) => a - b);
  return {
    count: latencies.length,
    p99Ms: Math.round(latencies[Math.floor((latencies.length - 1) * 0.99)] ?? Infinity),
  };
}

/** Runs `phase` twice with the same load: once as it is, once while `during()` misbehaves;
 * returns the two windows. */
async function baselineThenFault(
  world: World,
  registrations: readonly Registration[],
  load: LoadOptions,
  fault: { start(): void | Promise<void>; stop(): void | Promise<void> },
): Promise<{ baseline: [number, number]; faulty: [number, number] }> {
  const baselineFrom = Date.now();
  await startLoad(world.stack.gatewayUrl, registrations, world.ledger, load).done;
  const baselineTo = Date.now();
  await fault.start();
  const faultyFrom = Date.now();
  await startLoad(world.stack.gatewayUrl, registrations, world.ledger, load).done;
  const faultyTo = Date.now();
  await fault.stop();
  return { baseline: [baselineFrom, baselineTo], faulty: [faultyFrom, faultyTo] };
}

/** Hostile senders against one gateway, paced: unknown tokens, held 9 MiB bodies to unknown
 * tokens, and bad signatures on a real registration. */
function startHostileSenders(
  world: World,
  target: Registration,
  rates: { unknownPerSecond: number; heldConnections: number; badSignaturesPerSecond: number },
) {
  const url = new URL(world.stack.gatewayUrl);
  const counts = { unknownSent: 0, unknown404: 0, heldOpened: 0, badSent: 0, bad401: 0 };
  let running = true;
  // Four senders share each rate, so one slow answer does not slow the flood down.
  const paced = (perSecond: number, send: () => Promise<void>) =>
    Promise.all(
      Array.from({ length: 4 }, async (_, index) => {
        const interval = 4_000 / perSecond;
        let next = Date.now() + (interval * index) / 4;
        while (running) {
          const wait = next - Date.now();
          if (wait > 0) await sleep(wait);
          next = Math.max(next + interval, Date.now() - interval);
          await send().catch(() => undefined);
        }
      }),
    );
  const token = () => randomBytes(32).toString('base64url');
  const unknown = paced(rates.unknownPerSecond, async () => {
    counts.unknownSent++;
    const response = await fetch(`${world.stack.gatewayUrl}/v1/callbacks/llamaparse/${token()}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event_id: token(), event_type: 'parse.success', data: {} }),
      signal: AbortSignal.timeout(5_000),
    });
    await response.arrayBuffer();
    if (response.status === 404) counts.unknown404++;
  });
  const bad = paced(rates.badSignaturesPerSecond, async () => {
    counts.badSent++;
    const response = await fetch(`${world.stack.gatewayUrl}${target.callbackPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'lc-signature': 'sha256=forged' },
      body: JSON.stringify({ event_id: token(), event_type: 'parse.success', data: {} }),
      signal: AbortSignal.timeout(5_000),
    });
    await response.arrayBuffer();
    if (response.status === 401) counts.bad401++;
  });
  // Each holder announces 9 MiB, sends 1 MiB and waits; when the gateway closes on it, it
  // opens another connection.
  const sockets = new Set<Socket>();
  const chunk = Buffer.alloc(1024 * 1024, 'x');
  const holder = async () => {
    while (running) {
      counts.heldOpened++;
      await new Promise<void>((resolve) => {
        const socket = connect(Number(url.port), url.hostname, () => {
          socket.write(
            `POST /v1/callbacks/llamaparse/${token()} HTTP/1.1\r\nHost: ${url.host}\r\n` +
              `Content-Type: application/json\r\nContent-Length: ${9 * 1024 * 1024}\r\n\r\n`,
          );
          socket.write(chunk);
        });
        sockets.add(socket);
        socket.on('data', () => undefined);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          sockets.delete(socket);
          resolve();
        });
      });
      await sleep(100);
    }
  };
  const holders = Array.from({ length: rates.heldConnections }, () => holder());
  return {
    counts,
    async stop() {
      running = false;
      for (const socket of sockets) socket.destroy();
      await Promise.all([unknown, bad, ...holders]);
    },
  };
}

/**
 * A hostile-sender flood during normal traffic: unknown tokens, connections holding 9 MiB bodies
 * to unknown tokens, and forged signatures on a real registration, while the usual load goes to
 * the healthy registrations. The same load runs first without the flood, for comparison.
 */
export async function hostileFlood(size: ScenarioSize): Promise<ScenarioResult> {
  const started = Date.now();
  const load: LoadOptions = pick(
    size,
    { senders: 4, ratePerSecond: 40, durationMs: 6_000 },
    { senders: 8, ratePerSecond: 100, durationMs: 60_000 },
  );
  const rates = pick(
    size,
    { unknownPerSecond: 100, heldConnections: 30, badSignaturesPerSecond: 30 },
    { unknownPerSecond: 200, heldConnections: 30, badSignaturesPerSecond: 50 },
  );
  const world = await openWorld({ pipelines: 1, registrationsPerPipeline: 4 });
  return inWorld(world, async () => {
    const registrations = world.registrations.flat();
    const [target] = registrations;
    if (!target) throw new Error('no registration');
    const memory = sampleMemory(world);
    let hostile: ReturnType<typeof startHostileSenders> | undefined;
    const windows = await baselineThenFault(world, registrations, load, {
      start: () => void (hostile = startHostileSenders(world, target, rates)),
      stop: async () => hostile?.stop(),
    });
    const { accounting, unresolvedStates, drainMs } = await drain(
      world,
      pick(size, 30_000, 120_000),
    );
    const peak = memory();
    const paths = new Set(registrations.map((r) => r.path));
    const baseline = p99DeliveryMs(world, paths, ...windows.baseline);
    const flooded = p99DeliveryMs(world, paths, ...windows.faulty);
    const rejected = await auditEvents(world.redis.url, ['callback.rejected']);
    const counts = hostile?.counts;
    return {
      name: 'hostile-sender flood',
      load: `${describeLoad(load)}, twice (without, then with the flood)`,
      fault: `${rates.unknownPerSecond}/s unknown tokens, ${rates.heldConnections} connections holding 9 MiB bodies, ${rates.badSignaturesPerSecond}/s forged signatures`,
      accounting,
      observations: {
        baselineP99Ms: baseline.p99Ms,
        floodedP99Ms: flooded.p99Ms,
        p99Ratio: Math.round((flooded.p99Ms / Math.max(1, baseline.p99Ms)) * 100) / 100,
        unknownTokenSends: counts?.unknownSent ?? 0,
        unknownToken404s: counts?.unknown404 ?? 0,
        heldBodyConnections: counts?.heldOpened ?? 0,
        forgedSignatures: counts?.badSent ?? 0,
        forgedSignature401s: counts?.bad401 ?? 0,
        auditRejectedRecords: rejected.length,
        gatewayPeakRssMiB: peak.gatewayMiB,
        workerPeakRssMiB: peak.workerMiB,
        drainMs,
      },
      unresolvedStates,
      durationMs: Date.now() - started,
    };
  });
}

/**
 * A mixed fleet: a failing path and healthy paths on one origin, a whole origin that hangs, a
 * pipeline answering 500 with 150 MB bodies beside healthy paths on its origin, and a healthy
 * origin. The same load runs first with every pipeline healthy, for comparison; after the
 * faults, every pipeline heals and everything owed is delivered.
 */
export async function mixedFleet(size: ScenarioSize): Promise<ScenarioResult> {
  const started = Date.now();
  const load: LoadOptions = pick(
    size,
    { senders: 4, ratePerSecond: 40, durationMs: 6_000 },
    { senders: 8, ratePerSecond: 100, durationMs: 60_000 },
  );
  const world = await openWorld({
    pipelines: 4,
    registrationsPerPipeline: 3,
    env: {
      DELIVERY_TIMEOUT_MS: '2000',
      DELIVERY_BREAKER_FAILURES: '5',
      DELIVERY_BREAKER_OPEN_MS: '1000',
      DELIVERY_BREAKER_MAX_OPEN_MS: '4000',
      DELIVERY_RETRY_SCHEDULE: '0,1,2,4,8,16,32,64,128',
    },
  });
  return inWorld(world, async () => {
    const [failingOrigin, hungOrigin, hugeOrigin, healthyOrigin] = world.pipelines;
    const [failingRegs = [], , hugeRegs = [], healthyRegs = []] = world.registrations;
    if (!failingOrigin || !hungOrigin || !hugeOrigin || !healthyOrigin) {
      throw new Error('four pipelines expected');
    }
    const failingPath = failingRegs[0]?.path ?? '';
    const hugePath = hugeRegs[0]?.path ?? '';
    // Healthy: every path of the healthy origin, and the other paths beside the failing one
    // and the huge one.
    const healthyPaths = new Set(
      [...failingRegs.slice(1), ...hugeRegs.slice(1), ...healthyRegs].map((r) => r.path),
    );
    const memory = sampleMemory(world);
    const windows = await baselineThenFault(world, world.registrations.flat(), load, {
      start: async () => {
        failingOrigin.setPathFault(failingPath, 'fail');
        hugeOrigin.setPathFault(hugePath, 'huge');
        await hungOrigin.setMode('hang');
      },
      stop: async () => {
        failingOrigin.setPathFault(failingPath, undefined);
        hugeOrigin.setPathFault(hugePath, undefined);
        await hungOrigin.setMode('up');
      },
    });
    const { accounting, unresolvedStates, drainMs } = await drain(
      world,
      pick(size, 60_000, 300_000),
    );
    const peak = memory();
    const baseline = p99DeliveryMs(world, healthyPaths, ...windows.baseline);
    const faulty = p99DeliveryMs(world, healthyPaths, ...windows.faulty);
    const workerMetrics = `${world.stack.workerUrl}/metrics`;
    return {
      name: 'mixed fleet',
      load: `${describeLoad(load)}, twice (all healthy, then with the bad ones)`,
      fault:
        'one failing path, one hung origin, one pipeline answering 150 MB errors, healthy paths beside them',
      accounting,
      observations: {
        baselineP99Ms: baseline.p99Ms,
        faultyP99Ms: faulty.p99Ms,
        p99Ratio: Math.round((faulty.p99Ms / Math.max(1, baseline.p99Ms)) * 100) / 100,
        healthyDuringFaults: faulty.count,
        breakerOpened: await metric(workerMetrics, 'cbgw_breaker_transitions_total', 'to="open"'),
        heldOriginFull: await metric(workerMetrics, 'cbgw_delivery_held_total', 'origin_full'),
        gatewayPeakRssMiB: peak.gatewayMiB,
        workerPeakRssMiB: peak.workerMiB,
        drainMs,
      },
      unresolvedStates,
      durationMs: Date.now() - started,
    };
  });
}
