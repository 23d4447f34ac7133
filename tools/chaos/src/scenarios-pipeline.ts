import {
  auditEvents,
  deadLetters,
  drain,
  inWorld,
  metric,
  openWorld,
  type ScenarioResult,
  type ScenarioSize,
  type World,
} from './harness.js';
import { describeLoad, startLoad, type LoadOptions } from './load.js';
import { retryOrder, type DueDelivery } from './retry-order.js';
import { gatewayApi, sleep, until } from './stack.js';

const pick = <T>(size: ScenarioSize, short: T, full: T): T => (size === 'short' ? short : full);

/** Deliveries the worker runs side by side (WORKER_CONCURRENCY) in the pipeline-down scenario. */
const CONCURRENCY = 50;

/**
 * The pipeline refuses connections for `downMs` while load arrives, then comes back: the retry
 * schedule outlasts the outage, so everything is delivered and nothing dead-lettered, in retry
 * order: no delivery is overtaken by as many deliveries due after it as the worker runs side by
 * side (see `retryOrder`).
 */
export async function pipelineDown(size: ScenarioSize): Promise<ScenarioResult> {
  const started = Date.now();
  const load: LoadOptions = pick(
    size,
    { senders: 2, ratePerSecond: 20, durationMs: 5_000 },
    { senders: 4, ratePerSecond: 40, durationMs: 60_000 },
  );
  const downMs = pick(size, 10_000, 180_000);
  // Cumulative 15 s (short) or 230 s (full), minus 20 % jitter: still past the outage.
  const schedule = pick(size, '0,1,2,4,8', '0,5,15,30,60,120');
  const world = await openWorld({
    env: { DELIVERY_RETRY_SCHEDULE: schedule, WORKER_CONCURRENCY: String(CONCURRENCY) },
  });
  return inWorld(world, async () => {
    const [pipeline] = world.pipelines;
    if (!pipeline) throw new Error('no pipeline');
    const traffic = startLoad(
      world.stack.gatewayUrl,
      world.registrations.flat(),
      world.ledger,
      load,
    );
    await sleep(500);
    await pipeline.setMode('down');
    await sleep(downMs);
    await pipeline.setMode('up');
    const back = Date.now();
    await traffic.done;
    const { accounting, unresolvedStates, drainMs } = await drain(
      world,
      pick(size, 40_000, 600_000),
    );
    const order = retryOrder(await dueAfterOutage(world, back), CONCURRENCY);
    return {
      name: 'pipeline down, back',
      load: describeLoad(load),
      fault: `pipeline refuses connections for ${downMs / 1000} s (retry schedule ${schedule} s)`,
      accounting,
      observations: {
        drainMs,
        breakerOpened: await breakerOpens(world),
        // Deliveries held because their origin had its limit in flight, none answering for a
        // second: each comes back on its own timer, after others (a cause of disorder).
        heldOriginFull: await metric(
          `${world.stack.workerUrl}/metrics`,
          'cbgw_delivery_held_total',
          'origin_full',
        ),
        // Retry order after the outage (see retryOrder).
        deliveredAfterBack: order.checked,
        orderInversions: order.inversions,
        worstOvertakeMs: order.worstOvertakeMs,
        worstHeldBackMs: order.worstHeldBackMs,
        mostOvertaken: order.mostOvertaken,
        inRetryOrder: order.inOrder,
      },
      unresolvedStates,
      durationMs: Date.now() - started,
    };
  });
}

/**
 * Pipelines stay down past a short retry schedule: every callback is dead-lettered; then they
 * come back and bulk replays (`POST /v1/deliveries/replay`) deliver all of them. Each pipeline
 * (its own origin) gets at most 6 callbacks, 18 failed attempts: under the breaker's 20-request
 * minimum, so attempts are spent rather than held by an open breaker.
 */
export async function deadLetterReplay(size: ScenarioSize): Promise<ScenarioResult> {
  const started = Date.now();
  const pipelines = pick(size, 4, 16);
  const load: LoadOptions = {
    senders: 2,
    ratePerSecond: 20,
    durationMs: 30_000,
    maxCount: pipelines * 6,
  };
  const schedule = '0,0.2,0.2';
  const world = await openWorld({
    pipelines,
    registrationsPerPipeline: 1,
    env: { DELIVERY_RETRY_SCHEDULE: schedule },
  });
  return inWorld(world, async () => {
    await Promise.all(world.pipelines.map((pipeline) => pipeline.setMode('down')));
    await startLoad(world.stack.gatewayUrl, world.registrations.flat(), world.ledger, load).done;
    const beforeReplay = await drain(world, 30_000);
    await Promise.all(world.pipelines.map((pipeline) => pipeline.setMode('up')));
    let replayed = 0;
    // One call replays up to its limit; repeat until none is left.
    for (let round = 0; round < 20 && (await deadLetters(world.stack)).size > 0; round++) {
      const { status, body } = await gatewayApi<{ replayed?: number }>(
        world.stack,
        'POST',
        '/v1/deliveries/replay',
        {},
      );
      if (status !== 202) throw new Error(`bulk replay answered ${status}`);
      replayed += body.replayed ?? 0;
      // Still some left after 10 s: the next round replays them.
      await until(async () => (await deadLetters(world.stack)).size === 0, 10_000).catch(
        () => undefined,
      );
    }
    // After the replay only deliveries count: a dead letter left now is a failure.
    const { accounting, unresolvedStates, drainMs } = await drain(
      world,
      pick(size, 30_000, 300_000),
      { deadLettersCount: false },
    );
    return {
      name: 'dead letters, bulk replay',
      load: `${load.maxCount} callbacks to ${pipelines} pipelines, ${load.ratePerSecond}/s`,
      fault: `pipelines down past the retry schedule (${schedule} s), then bulk replay`,
      accounting,
      observations: {
        deadLetteredBeforeReplay: beforeReplay.accounting.deadLettered,
        lostBeforeReplay: beforeReplay.accounting.lost,
        replayed,
        drainMs,
      },
      unresolvedStates,
      durationMs: Date.now() - started,
    };
  });
}

/**
 * One pipeline hangs (reads, never answers) while a healthy one on another origin takes the same
 * load: deliveries to the hanging one time out, its breaker opens, the healthy one keeps flowing;
 * when the hanging one answers again, its backlog is delivered.
 */
export async function hangingPipeline(size: ScenarioSize): Promise<ScenarioResult> {
  const started = Date.now();
  const load: LoadOptions = pick(
    size,
    { senders: 4, ratePerSecond: 40, durationMs: 5_000 },
    { senders: 8, ratePerSecond: 100, durationMs: 60_000 },
  );
  const hangMs = pick(size, 4_000, 45_000);
  const world = await openWorld({
    pipelines: 2,
    registrationsPerPipeline: 2,
    env: {
      DELIVERY_TIMEOUT_MS: '500',
      DELIVERY_BREAKER_FAILURES: '5',
      DELIVERY_RETRY_SCHEDULE: '0,0.5,1,2,4,8,16,32',
    },
  });
  return inWorld(world, async () => {
    const [hanging, healthy] = world.pipelines;
    if (!hanging || !healthy) throw new Error('two pipelines expected');
    const [hangingRegs = [], healthyRegs = []] = world.registrations;
    // Alternate registrations so each pipeline gets half of the load.
    const interleaved = hangingRegs.flatMap((entry, i) => [entry, healthyRegs[i] ?? entry]);
    const traffic = startLoad(world.stack.gatewayUrl, interleaved, world.ledger, load);
    await sleep(300);
    await hanging.setMode('hang');
    const hangFrom = Date.now();
    await sleep(hangMs);
    const hangTo = Date.now();
    const healthyPaths = new Set(healthyRegs.map((entry) => entry.path));
    const breakerOpened = await breakerOpens(world);
    await hanging.setMode('up');
    await traffic.done;
    const { accounting, unresolvedStates, drainMs } = await drain(
      world,
      pick(size, 40_000, 300_000),
    );
    // Healthy callbacks acknowledged while the other pipeline hung: how long each took.
    const latencies = world.ledger.sends
      .filter((s) => s.callbackId && healthyPaths.has(s.path) && s.at >= hangFrom && s.at < hangTo)
      .map((s) => (world.ledger.firstReceiptAt.get(s.callbackId ?? '') ?? Infinity) - s.at)
      .sort((a, b) => a - b);
    const quantile = (q: number) => latencies[Math.floor((latencies.length - 1) * q)] ?? Infinity;
    return {
      name: 'hanging pipeline',
      load: describeLoad(load),
      fault: `one of two pipelines hangs ${hangMs / 1000} s (DELIVERY_TIMEOUT_MS 500)`,
      accounting,
      observations: {
        breakerOpened,
        healthyDuringHang: latencies.length,
        healthyP95Ms: Math.round(quantile(0.95)),
        healthyMaxMs: Math.round(quantile(1)),
        drainMs,
      },
      unresolvedStates,
      durationMs: Date.now() - started,
    };
  });
}

/** Breaker openings the worker counted so far. */
async function breakerOpens(world: World): Promise<number> {
  return metric(`${world.stack.workerUrl}/metrics`, 'cbgw_breaker_transitions_total', 'to="open"');
}

/**
 * Every delivery that reached the pipeline after it came back at `back`, with the time its
 * delivering attempt was due by the retry schedule: after a failed attempt, that attempt's
 * `next_attempt_at` (its last `delivery.failed` audit event); never attempted before (held by
 * the open breaker), the time it was stored, the schedule's first entry being 0. Breaker holds
 * do not move a due time: they are what the order is checked against.
 */
async function dueAfterOutage(world: World, back: number): Promise<DueDelivery[]> {
  const failed = await auditEvents(world.redis.url, ['delivery.failed']);
  const dueAt = new Map<string, number>();
  for (const event of failed) {
    if (event.type !== 'delivery.failed' || !event.data.next_attempt_at) continue;
    const id = event.correlation.callback_id;
    if (id) dueAt.set(id, Date.parse(event.data.next_attempt_at));
  }
  const due: DueDelivery[] = [];
  for (const send of world.ledger.sends) {
    const id = send.callbackId;
    const deliveredAt = id === undefined ? undefined : world.ledger.firstReceiptAt.get(id);
    if (id === undefined || deliveredAt === undefined || deliveredAt < back) continue;
    due.push({ id, dueAt: dueAt.get(id) ?? send.at, deliveredAt, destination: send.path });
  }
  return due;
}
