import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuMeter, cpuPerItem } from '../lib/cpu-time.mjs';
import { profileDirectory, summarizeProfiles } from '../lib/cpuprofile.mjs';
import { startHelper } from '../lib/ipc.mjs';
import { addCommandDelta, commandStats, commandsPerItem } from '../lib/redis-commands.mjs';
import { figure } from '../lib/report.mjs';
import { register, startApps, startBenchRedis } from '../lib/stack.mjs';
import { epochMs, log, median, onCleanup, waitFor } from '../lib/util.mjs';

/** The worker's default `WORKER_CONCURRENCY`: the raw loop gets as many requests in flight. */
const DEFAULT_CONCURRENCY = 50;

/**
 * Delivery: the queue is filled through the gateway with the worker stopped; then the worker
 * starts and delivers everything to a local pipeline server. The baseline is a raw undici loop
 * posting the very requests the pipeline recorded (path, signature headers, body) to the same
 * server (the machine's limit). The naive peer (lib/naive-delivery.mjs: a BullMQ Worker that
 * signs with `standardwebhooks` and posts with undici) delivers as many pre-filled jobs to the
 * same server, on the same Redis, with as many in flight; it and the worker alternate which goes
 * first. All rates are steady state, taken at the pipeline: receipts from the 10 % mark to the
 * last one, so the worker's start-up is not counted against it.
 */
export async function delivery(settings) {
  const count = settings.deliveryCount;
  // The raw loop keeps as many requests in flight as the worker (`--app-env` may change it).
  const concurrency = Number(settings.appEnv.WORKER_CONCURRENCY ?? DEFAULT_CONCURRENCY);
  const redis = await startBenchRedis(settings);
  const apps = await startApps(redis, settings, { worker: false });
  const pipeline = await startHelper('pipeline-server', { cpus: settings.cpus.loadgen });
  const pipelineUrl = `http://127.0.0.1:${await pipeline.call('port')}`;
  const load = await startHelper('load', { cpus: settings.cpus.loadgen });
  const loop = await startHelper('undici-loop', { cpus: settings.cpus.servers });
  const peer = await startHelper('naive-delivery', { cpus: settings.cpus.servers });
  await peer.call('setup', { redisUrl: settings.redisSocket ? redis.socketUrl : redis.url });
  const dir = await mkdtemp(join(tmpdir(), 'cbg-bench-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  const paths = await register(
    apps.gatewayUrl,
    settings.registrations,
    (i) => `${pipelineUrl}/hook/${i}`,
  );
  const from = Math.max(1, Math.floor(count / 10));
  const steadyRate = async () => {
    const stats = await pipeline.call('stats', { at: [from, count] });
    const [t1, t2] = stats.timesAt;
    return { ...stats, perSec: ((count - from) * 1000) / (t2 - t1) };
  };
  const drain = (timeoutMs) =>
    waitFor(async () => (await pipeline.call('stats')).received >= count, timeoutMs, 200);

  // Redis's commands while the peer delivers, added up over the rounds.
  const peerCommands = new Map();
  const runPeer = async (round) => {
    log(`delivery: naive peer, filling its queue with ${count} jobs`);
    const waiting = await peer.call('fill', {
      urls: paths.map((_, i) => `${pipelineUrl}/hook/${i}`),
      count,
      bytes: settings.bodyBytes,
      idPrefix: `naive-${Date.now().toString(36)}-${round}`,
    });
    if (waiting !== count) throw new Error(`peer pre-fill: ${waiting}/${count} jobs waiting`);
    await pipeline.call('reset', { mode: 'record' });
    const commandsBefore = await commandStats(redis.url);
    const started = epochMs();
    const meter = cpuMeter({ peer: peer.pid, redis: redis.pid, pipeline: pipeline.pid });
    await peer.call('start', { concurrency });
    if (!(await drain(Math.max(120_000, count * 10))))
      throw new Error('delivery: the naive peer did not deliver everything in time');
    const peerCpu = cpuPerItem(meter.stop(), count);
    const rate = await steadyRate();
    const wallPerSec = (count * 1000) / (rate.lastAt - started);
    await peer.call('stop');
    addCommandDelta(peerCommands, commandsBefore, await commandStats(redis.url));
    return { ...rate, wallPerSec, cpuUsPerDelivery: peerCpu };
  };

  const rounds = [];
  // Redis's commands while the worker delivers, added up over the rounds.
  const commands = new Map();
  for (let round = 0; round < settings.rounds; round++) {
    // The peer first in odd rounds, last in even ones.
    const peerFirst = round % 2 === 1 ? await runPeer(round) : undefined;
    log(
      `delivery: round ${round + 1}/${settings.rounds}, filling the queue with ${count} callbacks`,
    );
    await pipeline.call('reset', { mode: 'record' });
    const fill = await load.call('run', {
      baseUrl: apps.gatewayUrl,
      paths,
      kind: 'envelope',
      bytes: settings.bodyBytes,
      connections: settings.connections,
      amount: count,
      idPrefix: `delivery-${Date.now().toString(36)}-${round}`,
    });
    if (fill.accepted !== count)
      throw new Error(`pre-fill: ${fill.accepted}/${count} answered 202`);

    log('delivery: starting the worker');
    const commandsBefore = await commandStats(redis.url);
    const started = epochMs();
    await apps.startWorker();
    const workerMeter = cpuMeter({
      worker: apps.worker.child.pid,
      redis: redis.pid,
      pipeline: pipeline.pid,
    });
    const timeoutMs = Math.max(120_000, count * 10);
    if (!(await drain(timeoutMs)))
      throw new Error('delivery: the worker did not deliver everything in time');
    const workerCpu = cpuPerItem(workerMeter.stop(), count);
    const worker = await steadyRate();
    const wallPerSec = (count * 1000) / (worker.lastAt - started);
    await apps.worker.stop();
    // From before its start to after its stop (outcomes and audit events still being written
    // when the last delivery arrives are counted; so are start-up and shutdown, a few dozen
    // commands against thousands of deliveries).
    addCommandDelta(commands, commandsBefore, await commandStats(redis.url));

    log('delivery: raw undici loop');
    const file = join(dir, `deliveries-${round}.ndjson`);
    await pipeline.call('dump', { file });
    // The same pipeline work on both sides (it records what it receives in both runs).
    await pipeline.call('reset', { mode: 'record' });
    const loopMeter = cpuMeter({ loop: loop.pid, pipeline: pipeline.pid });
    const raw = await loop.call('run', { file, baseUrl: pipelineUrl, concurrency });
    if (!(await drain(30_000)) || raw.failed)
      throw new Error('delivery: the raw loop did not finish');
    const loopCpu = cpuPerItem(loopMeter.stop(), count);
    const baseline = await steadyRate();
    const naive = peerFirst ?? (await runPeer(round));
    rounds.push({
      worker: { ...worker, wallPerSec, cpuUsPerDelivery: workerCpu },
      raw: { ...raw, ...baseline, cpuUsPerDelivery: loopCpu },
      peer: naive,
    });
  }

  const cpu = (side, name) => median(rounds.map((r) => r[side].cpuUsPerDelivery[name] ?? NaN));
  const rate = figure(
    'delivery',
    `deliveries/s (${count}, ${settings.bodyBytes} B, ${concurrency} in flight)`,
    median(rounds.map((r) => r.worker.perSec)),
    '/s',
    {
      baseline: median(rounds.map((r) => r.raw.perSec)),
      baselineLabel: 'raw undici loop',
      note:
        `duplicates ${rounds.reduce((s, r) => s + r.worker.duplicates, 0)}; CPU µs/delivery: ` +
        `worker ${cpu('worker', 'worker')} + Redis ${cpu('worker', 'redis')} + pipeline ` +
        `${cpu('worker', 'pipeline')}; raw loop ${cpu('raw', 'loop')} + pipeline ${cpu('raw', 'pipeline')}`,
    },
  );
  rate.ratio = median(rounds.map((r) => r.worker.perSec / r.raw.perSec));
  rate.goal = { text: '≥ 0.50×', met: rate.ratio >= 0.5 };
  const redisCommands = commandsPerItem(commands, count * rounds.length);
  const naiveCommands = commandsPerItem(peerCommands, count * rounds.length);
  const calls = (rows) => rows.reduce((sum, row) => sum + row.callsPerItem, 0);
  const versusPeer = figure(
    'delivery',
    `deliveries/s (${count}, ${settings.bodyBytes} B, ${concurrency} in flight)`,
    rate.value,
    '/s',
    {
      baseline: median(rounds.map((r) => r.peer.perSec)),
      baselineLabel: 'naive peer',
      note:
        `duplicates ${rounds.reduce((s, r) => s + r.peer.duplicates, 0)}; CPU µs/delivery: peer ` +
        `${cpu('peer', 'peer')} + Redis ${cpu('peer', 'redis')} + pipeline ${cpu('peer', 'pipeline')}`,
    },
  );
  versusPeer.ratio = median(rounds.map((r) => r.worker.perSec / r.peer.perSec));
  versusPeer.goal = { text: '≥ 1.5×', met: versusPeer.ratio >= 1.5 };
  // Every command Redis ran, scripts' inner commands included (`evalsha` itself counts one).
  const commandCount = figure('delivery', 'Redis commands per delivery', calls(redisCommands), '', {
    baseline: calls(naiveCommands),
    baselineLabel: 'naive peer',
  });
  commandCount.goal = { text: '≤ 10', met: commandCount.value <= 10 };
  const wall = figure(
    'delivery',
    'deliveries/s incl. worker start',
    median(rounds.map((r) => r.worker.wallPerSec)),
    '/s',
    {
      baseline: rate.baseline,
      baselineLabel: 'raw undici loop',
    },
  );
  // The profile comes from one more round, after the measured ones: the worker started with
  // `--cpu-prof` on a full queue, stopped once everything arrived (the profile is written as
  // it exits).
  let profile;
  if (settings.profile) {
    const profileDir = await profileDirectory(settings, 'delivery');
    await pipeline.call('reset', { mode: 'count' });
    await load.call('run', {
      baseUrl: apps.gatewayUrl,
      paths,
      kind: 'envelope',
      bytes: settings.bodyBytes,
      connections: settings.connections,
      amount: count,
      idPrefix: `delivery-profile-${Date.now().toString(36)}`,
    });
    log('delivery: profiling the worker while it delivers the queue');
    await apps.startWorker(['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
    await drain(Math.max(120_000, count * 10));
    const { perSec } = await steadyRate();
    await apps.worker.stop();
    profile = { ...(await summarizeProfiles(profileDir)), deliveredPerSec: perSec };
  }

  const strip = ({ timesAt, ...rest }) => rest;
  return {
    rows: [rate, versusPeer, wall, commandCount],
    raw: {
      rounds: rounds.map((r) => ({
        worker: strip(r.worker),
        raw: strip(r.raw),
        peer: strip(r.peer),
      })),
      profile,
      redisCommands,
      peerCommands: naiveCommands,
    },
  };
}
