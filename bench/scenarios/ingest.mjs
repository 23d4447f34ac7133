import { join } from 'node:path';
import { cpuMeter, cpuPerItem } from '../lib/cpu-time.mjs';
import { profileDirectory, summarizeProfiles } from '../lib/cpuprofile.mjs';
import { startHelper } from '../lib/ipc.mjs';
import { addCommandDelta, commandStats, commandsPerItem } from '../lib/redis-commands.mjs';
import { figure } from '../lib/report.mjs';
import { register, startApps, startBenchRedis } from '../lib/stack.mjs';
import { log, median } from '../lib/util.mjs';

/**
 * Ingest: callbacks acknowledged per second and ack latency through the full gateway (token
 * lookup, decode, dedup, durable enqueue, metrics, audit), against a bare Fastify endpoint
 * answering 202 (the machine's limit) and, for 2 KB events, the naive peer (lib/naive-ingest.mjs:
 * a token GET and a BullMQ `queue.add` on the same Redis), the same load generator and body
 * sizes for all, alternating the order. The worker is not running (it would compete for the same
 * cores); callbacks stay queued, the peer's too.
 */
export async function ingest(settings) {
  const redis = await startBenchRedis(settings);
  const profileDir = settings.profile ? await profileDirectory(settings, 'ingest') : undefined;
  const apps = await startApps(redis, settings, { worker: false });
  const bare = await startHelper('bare-fastify', { cpus: settings.cpus.servers });
  const bareUrl = `http://127.0.0.1:${await bare.call('port')}`;
  const peer = await startHelper('naive-ingest', { cpus: settings.cpus.servers });
  const redisUrl = settings.redisSocket ? redis.socketUrl : redis.url;
  const peerUrl = `http://127.0.0.1:${await peer.call('start', { redisUrl })}`;
  const load = await startHelper('load', { cpus: settings.cpus.loadgen });
  const nowhere = (i) => `http://127.0.0.1:9/hook/${i}`;
  const paths = await register(apps.gatewayUrl, settings.registrations, nowhere);
  await peer.call('tokens', { paths });
  const stamp = Date.now().toString(36);
  // CPU per acknowledged callback of each process taking part (the side not measured idles).
  // Redis's commands during the gateway's and the peer's 2 KB runs, added up over the rounds.
  const smallCommands = { gateway: new Map(), peer: new Map() };
  const smallAcked = { gateway: 0, peer: 0 };
  const run = async (label, baseUrl, { warmup = false, ...options }) => {
    const countCommands = label in smallCommands && options.kind === 'envelope' && !warmup;
    const commandsBefore = countCommands ? await commandStats(redis.url) : undefined;
    const meter = cpuMeter(
      label === 'bare'
        ? { server: bare.pid, loadgen: load.pid }
        : label === 'peer'
          ? { server: peer.pid, redis: redis.pid, loadgen: load.pid }
          : { server: apps.gateway.child.pid, redis: redis.pid, loadgen: load.pid },
    );
    const result = await load.call('run', {
      baseUrl,
      connections: settings.connections,
      idPrefix: `${label}-${stamp}-${Math.random().toString(36).slice(2)}`,
      ...options,
    });
    const cpu = meter.stop();
    if (commandsBefore) {
      addCommandDelta(smallCommands[label], commandsBefore, await commandStats(redis.url));
      smallAcked[label] += result.accepted;
    }
    return { ...result, cpu, cpuUsPerAck: cpuPerItem(cpu, result.accepted) };
  };
  // The peer takes part in the 2 KB runs only (its JSON parser refuses bodies over 1 MiB):
  // bare, peer, gateway, then the reverse order in the next round.
  const pair = async (options, round, perSide = () => ({})) => {
    const sides = [
      ['bare', bareUrl],
      ...(options.kind === 'envelope' ? [['peer', peerUrl]] : []),
      ['gateway', apps.gatewayUrl],
    ];
    if (round % 2) sides.reverse();
    const out = {};
    for (const [label, url] of sides)
      out[label] = await run(label, url, { ...options, ...perSide(label) });
    return out;
  };

  // 2 KB envelopes, for a fixed time.
  const envelope = { kind: 'envelope', bytes: settings.bodyBytes };
  log(`ingest 2 KB: warm-up ${settings.warmup} s per side`);
  await pair({ ...envelope, paths, durationS: settings.warmup, warmup: true }, 0);
  const small = [];
  for (let round = 0; round < settings.rounds; round++) {
    log(
      `ingest 2 KB: round ${round + 1}/${settings.rounds}, ${settings.ingestDuration} s per side`,
    );
    small.push(await pair({ ...envelope, paths, durationS: settings.ingestDuration }, round));
  }

  // 1 MB legacy bodies are final: each request gets a registration of its own.
  // At least one request per connection (autocannon refuses fewer).
  const warmLegacy = Math.max(settings.connections, Math.min(50, settings.legacyRequests));
  const perRun = settings.legacyRequests + settings.connections;
  log(`ingest 1 MB: registering ${warmLegacy + perRun * settings.rounds} callback URLs`);
  const legacyPaths = await register(
    apps.gatewayUrl,
    warmLegacy + perRun * settings.rounds,
    nowhere,
  );
  const legacy = { kind: 'legacy', bytes: settings.legacyBytes };
  await pair({ ...legacy, amount: warmLegacy, paths: legacyPaths.slice(0, warmLegacy) }, 0);
  const large = [];
  for (let round = 0; round < settings.rounds; round++) {
    const from = warmLegacy + round * perRun;
    log(
      `ingest 1 MB: round ${round + 1}/${settings.rounds}, ${settings.legacyRequests} requests per side`,
    );
    large.push(
      await pair(
        {
          ...legacy,
          amount: settings.legacyRequests,
          paths: legacyPaths.slice(from, from + perRun),
        },
        round,
      ),
    );
  }

  // The profile comes from a gateway of its own under the 2 KB load alone, after the measured
  // runs: profiling slows the process, and must not touch the figures above.
  let profile;
  if (profileDir) {
    // The 1 MB profile's registrations, made now so that no profile counts them.
    const legacyProfilePaths = await register(
      apps.gatewayUrl,
      settings.legacyRequests + settings.connections,
      nowhere,
    );
    await apps.gateway.stop();
    // Node 20 refuses --cpu-prof in NODE_OPTIONS: it goes on the command line.
    await apps.startGateway(['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
    log(`ingest 2 KB: profiling the gateway for ${settings.ingestDuration} s`);
    const load2 = await run('profile', apps.gatewayUrl, {
      ...envelope,
      paths,
      durationS: settings.ingestDuration,
    });
    await apps.gateway.stop(); // the profile is written as the process exits
    profile = { ...(await summarizeProfiles(profileDir)), acceptedPerSec: load2.acceptedPerSec };

    // And one under 1 MB legacy bodies alone (registrations of their own, as above).
    const legacyDir = await profileDirectory(settings, join('ingest', 'legacy'));
    await apps.startGateway(['--cpu-prof', `--cpu-prof-dir=${legacyDir}`]);
    log(`ingest 1 MB: profiling the gateway for ${settings.legacyRequests} requests`);
    const load3 = await run('profile-legacy', apps.gatewayUrl, {
      ...legacy,
      amount: settings.legacyRequests,
      paths: legacyProfilePaths,
    });
    await apps.gateway.stop();
    profile.legacy = {
      ...(await summarizeProfiles(legacyDir)),
      acceptedPerSec: load3.acceptedPerSec,
    };
  }

  const rows = [];
  const describe = (label, runs, goals) => {
    const pick = (side, get) => median(runs.map((r) => get(r[side])));
    const ratio = (get, side = 'bare') => median(runs.map((r) => get(r.gateway) / get(r[side])));
    const withPeer = runs.every((r) => r.peer);
    const rate = (r) => r.acceptedPerSec;
    const p50 = (r) => r.latencyMs.p50;
    const p99 = (r) => r.latencyMs.p99;
    const failures = runs.reduce((sum, r) => sum + r.gateway.requests - r.gateway.accepted, 0);
    const note = failures ? `${failures} requests not answered 202` : undefined;
    const cpu = (side, name) => median(runs.map((r) => r[side].cpuUsPerAck[name] ?? NaN));
    const cpuNote =
      `CPU µs/ack: gateway ${cpu('gateway', 'server')} + Redis ${cpu('gateway', 'redis')}, ` +
      `bare ${cpu('bare', 'server')}` +
      (withPeer ? `, peer ${cpu('peer', 'server')} + Redis ${cpu('peer', 'redis')}` : '') +
      `; loadgen ${cpu('gateway', 'loadgen')} vs ${cpu('bare', 'loadgen')}`;
    const add = (name, get, unit, goal) => {
      const row = figure('ingest', `${label}: ${name}`, pick('gateway', get), unit, {
        baseline: pick('bare', get),
        baselineLabel: 'bare Fastify',
        note: name === 'acked/s' ? [note, cpuNote].filter(Boolean).join('; ') : note,
      });
      row.ratio = ratio(get); // median of per-round ratios
      if (goal) row.goal = { text: goal.text, met: goal.check(row.ratio) };
      rows.push(row);
    };
    // The same figure against the naive peer (issue 20's goals).
    const addPeer = (name, get, unit, goal) => {
      const failed = runs.reduce((sum, r) => sum + r.peer.requests - r.peer.accepted, 0);
      const row = figure('ingest', `${label}: ${name}`, pick('gateway', get), unit, {
        baseline: pick('peer', get),
        baselineLabel: 'naive peer',
        note: failed ? `peer: ${failed} requests not answered 202` : undefined,
      });
      row.ratio = ratio(get, 'peer');
      if (goal) row.goal = { text: goal.text, met: goal.check(row.ratio) };
      rows.push(row);
    };
    add('acked/s', rate, '/s', goals.rate);
    if (withPeer) addPeer('acked/s', rate, '/s', { text: '≥ 1.5×', check: (r) => r >= 1.5 });
    add('p50 ack', p50, 'ms');
    if (withPeer) addPeer('p50 ack', p50, 'ms');
    add('p99 ack', p99, 'ms', goals.p99);
    if (withPeer) addPeer('p99 ack', p99, 'ms', { text: '≤ 1×', check: (r) => r <= 1 });
  };
  describe(`${settings.bodyBytes} B, ${settings.connections} conn`, small, {
    rate: { text: '≥ 0.70×', check: (r) => r >= 0.7 },
    p99: { text: '≤ 2×', check: (r) => r <= 2 },
  });
  describe(`1 MB legacy, ${settings.connections} conn`, large, {});
  const perAck = (label) =>
    smallAcked[label] ? commandsPerItem(smallCommands[label], smallAcked[label]) : undefined;
  return {
    rows,
    raw: { small, large, profile, redisCommands: perAck('gateway'), peerCommands: perAck('peer') },
  };
}
