import { drain, inWorld, openWorld, type ScenarioResult, type ScenarioSize } from './harness.js';
import { describeLoad, startLoad, type LoadOptions } from './load.js';
import { waitForHttp } from '@callback-gateway/testing';
import { sleep, until } from './stack.js';

const pick = <T>(size: ScenarioSize, short: T, full: T): T => (size === 'short' ? short : full);

/**
 * Worker SIGKILL under load, restarted after `downMs`: its locked deliveries come back after
 * `DELIVERY_LOCK_DURATION_MS`, the backlog drains, nothing acknowledged is lost.
 */
export async function workerKill(size: ScenarioSize): Promise<ScenarioResult> {
  const started = Date.now();
  const load: LoadOptions = pick(
    size,
    { senders: 4, ratePerSecond: 40, durationMs: 5_000 },
    { senders: 8, ratePerSecond: 100, durationMs: 60_000 },
  );
  const kills = pick(size, 1, 3);
  const downMs = pick(size, 1_500, 5_000);
  // A slow pipeline and few slots: every kill finds deliveries in flight.
  const world = await openWorld({ env: { WORKER_CONCURRENCY: '8' }, latencyMs: 100 });
  return inWorld(world, async () => {
    // Faults are timed from the start of the load (the world may take seconds to open).
    const loadStarted = Date.now();
    const traffic = startLoad(
      world.stack.gatewayUrl,
      world.registrations.flat(),
      world.ledger,
      load,
    );
    const gap = load.durationMs / (kills + 1);
    for (let k = 1; k <= kills; k++) {
      await sleep(loadStarted + gap * k - Date.now());
      await world.stack.worker.stop('SIGKILL');
      await sleep(downMs);
      await world.stack.restartWorker();
    }
    await traffic.done;
    // The killed worker's jobs come back through BullMQ's stalled-job check (every 30 s, two
    // rounds), not after DELIVERY_LOCK_DURATION_MS alone: allow for up to a minute.
    const { accounting, unresolvedStates, drainMs } = await drain(world, 75_000);
    return {
      name: 'worker SIGKILL',
      load: describeLoad(load),
      fault: `worker SIGKILL ×${kills}, restarted after ${downMs / 1000} s`,
      accounting,
      observations: { drainMs, rejectedSignatures: world.pipelines[0]?.rejected.length ?? 0 },
      unresolvedStates,
      durationMs: Date.now() - started,
    };
  });
}

/**
 * Redis stopped (SIGTERM) and later killed (SIGKILL), each time away for `awayMs`, under load.
 * The gateway answers 503 while it is away and 202 again once it is back, and no process is
 * restarted: the worker finds its stream group and queue again by itself.
 */
export async function redisRestart(size: ScenarioSize): Promise<ScenarioResult> {
  const started = Date.now();
  const load: LoadOptions = pick(
    size,
    // Short: 12 s, so that the load outlasts the second outage by 3 s, time for the processes to
    // reconnect even on a loaded machine (with 8 s, 1.7 s were left and, once, none accepted).
    { senders: 4, ratePerSecond: 40, durationMs: 12_000 },
    { senders: 8, ratePerSecond: 100, durationMs: 90_000 },
  );
  const awayMs = pick(size, 1_500, 10_000);
  const world = await openWorld();
  return inWorld(world, async () => {
    const { stack, redis, ledger } = world;
    const pids = [stack.gateway.child.pid, stack.worker.child.pid];
    const loadStarted = Date.now();
    const traffic = startLoad(stack.gatewayUrl, world.registrations.flat(), ledger, load);
    const windows: { from: number; to: number }[] = [];
    const outage = async (at: number, how: 'restart' | 'kill') => {
      await sleep(loadStarted + at - Date.now());
      const from = Date.now();
      await (how === 'restart' ? redis.stop() : redis.kill());
      await sleep(awayMs);
      await redis.start();
      windows.push({ from, to: Date.now() });
    };
    await outage(load.durationMs * 0.25, 'restart');
    await outage(load.durationMs * 0.6, 'kill');
    const back = Date.now();
    await traffic.done;
    const { accounting, unresolvedStates, drainMs } = await drain(world, 90_000);
    const during = (at: number) => windows.some((w) => at >= w.from && at <= w.to + 200);
    const ready = await Promise.all([
      fetch(`${stack.gatewayUrl}/readyz/ingest`).then((r) => r.status),
      fetch(`${stack.workerUrl}/readyz`).then((r) => r.status),
    ]);
    return {
      name: 'Redis restart',
      load: describeLoad(load),
      fault: `Redis SIGTERM, later SIGKILL (AOF, fsync always), away ${awayMs / 1000} s each`,
      accounting,
      observations: {
        unavailableWhileAway: ledger.sends.filter(
          (s) => s.outcome === 'unavailable' && during(s.at),
        ).length,
        acceptedAfterRecovery: ledger.count('accepted', back),
        sameProcesses:
          stack.gateway.child.pid === pids[0] &&
          stack.worker.child.pid === pids[1] &&
          stack.gateway.running &&
          stack.worker.running,
        readyAfter: ready.join('/'),
        drainMs,
      },
      unresolvedStates,
      durationMs: Date.now() - started,
    };
  });
}

/**
 * The processes start while Redis is unreachable: they stay up (`/healthz` 200), say not ready
 * (`/readyz` 503), and become ready by themselves once Redis appears; then a load goes through.
 */
export async function redisAtStartup(size: ScenarioSize): Promise<ScenarioResult> {
  const started = Date.now();
  const awayMs = pick(size, 2_000, 20_000);
  const load: LoadOptions = pick(
    size,
    { senders: 2, ratePerSecond: 20, durationMs: 2_000 },
    { senders: 4, ratePerSecond: 50, durationMs: 20_000 },
  );
  const world = await openWorld({ redisAway: true });
  return inWorld(world, async () => {
    const { stack, redis, ledger } = world;
    // Both must be listening (health server first) although Redis is away.
    await waitForHttp(`${stack.gatewayUrl}/healthz`, () => true, 20_000);
    await waitForHttp(`${stack.workerUrl}/healthz`, () => true, 20_000);
    await sleep(Math.max(0, started + awayMs - Date.now()));
    const status = async (url: string) =>
      (await fetch(url, { signal: AbortSignal.timeout(2_000) })).status;
    const whileAway = await Promise.all([
      status(`${stack.gatewayUrl}/healthz`),
      status(`${stack.gatewayUrl}/readyz`),
      status(`${stack.workerUrl}/healthz`),
      status(`${stack.workerUrl}/readyz`),
    ]);
    const up = stack.gateway.running && stack.worker.running;
    const appeared = Date.now();
    await redis.start();
    await until(
      async () =>
        (await status(`${stack.gatewayUrl}/readyz`)) === 200 &&
        (await status(`${stack.workerUrl}/readyz`)) === 200,
      30_000,
      'both processes ready',
    );
    const readyAfterMs = Date.now() - appeared;
    await world.registerAll(2);
    await startLoad(stack.gatewayUrl, world.registrations.flat(), ledger, load).done;
    const { accounting, unresolvedStates } = await drain(world, pick(size, 15_000, 60_000));
    return {
      name: 'Redis unreachable at start-up',
      load: describeLoad(load),
      fault: `processes started ${awayMs / 1000} s before Redis (at least)`,
      accounting,
      observations: {
        stayedUp: up,
        // gateway healthz/readyz, worker healthz/readyz while Redis was away
        whileAway: whileAway.join('/'),
        readyAfterMs,
      },
      unresolvedStates,
      durationMs: Date.now() - started,
    };
  });
}

/**
 * Gateway SIGKILL under load, restarted on the same port: senders see connection errors while it
 * is down, and every 202 it gave before dying is still delivered.
 */
export async function gatewayKill(size: ScenarioSize): Promise<ScenarioResult> {
  const started = Date.now();
  const load: LoadOptions = pick(
    size,
    { senders: 4, ratePerSecond: 40, durationMs: 5_000 },
    { senders: 8, ratePerSecond: 100, durationMs: 60_000 },
  );
  const kills = pick(size, 1, 3);
  const downMs = pick(size, 1_500, 5_000);
  const world = await openWorld();
  return inWorld(world, async () => {
    // Faults are timed from the start of the load (the world may take seconds to open): each
    // kill finds callbacks being acknowledged.
    const loadStarted = Date.now();
    const traffic = startLoad(world.stack.gatewayUrl, world.registrations.flat(), world.ledger, {
      ...load,
      timeoutMs: 2_000,
    });
    const gap = load.durationMs / (kills + 1);
    for (let k = 1; k <= kills; k++) {
      await sleep(loadStarted + gap * k - Date.now());
      await world.stack.gateway.stop('SIGKILL');
      await sleep(downMs);
      await world.stack.restartGateway();
    }
    await traffic.done;
    const { accounting, unresolvedStates } = await drain(world, pick(size, 20_000, 120_000));
    return {
      name: 'gateway SIGKILL',
      load: describeLoad(load),
      fault: `gateway SIGKILL ×${kills}, restarted after ${downMs / 1000} s`,
      accounting,
      observations: { senderErrors: accounting.errors },
      unresolvedStates,
      durationMs: Date.now() - started,
    };
  });
}
