import { cpuMeter } from '../lib/cpu-time.mjs';
import { startHelper } from '../lib/ipc.mjs';
import { figure } from '../lib/report.mjs';
import { register, startApps, startBenchCluster, startBenchRedis } from '../lib/stack.mjs';
import { epochMs, log, scoped, waitFor } from '../lib/util.mjs';
import { runPaced } from './e2e.mjs';

/**
 * `npm run bench -- --cluster`: ingest, delivery and end to end on one Redis and on a local
 * Redis Cluster (3 masters, no replicas; the store in 16 partitions), in the same run, the same
 * way. Ingest: 2 KB events for `--ingest-duration` s with the worker stopped. Delivery: the worker then
 * starts and delivers what was acknowledged (steady rate at the pipeline, from the 10 % mark).
 * End to end: the e2e scenario's paced run at the first `--e2e-rates` rate. CPU per callback is
 * each Redis process's (the primaries'), summed and per shard: on 2 shared cores this shows what
 * a cluster costs, not how it scales (every shard competes for the same cores).
 */
export async function cluster(settings) {
  const rows = [];
  const raw = {};
  for (const target of ['one Redis', 'cluster']) {
    const startStore = target === 'cluster' ? startBenchCluster : startBenchRedis;
    raw[target] = await scoped(async () => {
      const store = await startStore(settings);
      const redisPids = store.pids ?? [store.pid];
      const apps = await startApps(store, settings, { worker: false });
      const pipeline = await startHelper('pipeline-server', { cpus: settings.cpus.loadgen });
      const pipelineUrl = `http://127.0.0.1:${await pipeline.call('port')}`;
      const load = await startHelper('load', { cpus: settings.cpus.loadgen });
      const paths = await register(
        apps.gatewayUrl,
        settings.registrations,
        (i) => `${pipelineUrl}/hook/${i}`,
      );
      const redisMeter = () => Object.fromEntries(redisPids.map((pid, i) => [`redis${i}`, pid]));
      const redisCpu = (cpu) => redisPids.map((_, i) => cpu.used[`redis${i}`]?.seconds ?? 0);

      log(`cluster bench (${target}): ingest, 2 KB events for ${settings.ingestDuration} s`);
      await pipeline.call('reset', { mode: 'record' });
      const ingestMeter = cpuMeter({ gateway: apps.gateway.child.pid, ...redisMeter() });
      const ingest = await load.call('run', {
        baseUrl: apps.gatewayUrl,
        connections: settings.connections,
        idPrefix: `cluster-${target.replace(' ', '-')}-${Date.now().toString(36)}`,
        kind: 'envelope',
        bytes: settings.bodyBytes,
        paths,
        durationS: settings.ingestDuration,
      });
      const ingestCpu = ingestMeter.stop();
      const acked = ingest.accepted;

      log(`cluster bench (${target}): delivery of the ${acked} acknowledged callbacks`);
      const deliveryMeter = cpuMeter(redisMeter());
      const started = epochMs();
      await apps.startWorker();
      const workerPid = apps.worker.child.pid;
      const workerMeter = cpuMeter({ worker: workerPid });
      const drained = await waitFor(
        async () => (await pipeline.call('stats')).received >= acked,
        Math.max(120_000, acked * 5),
        200,
      );
      if (!drained) throw new Error(`cluster bench (${target}): not every callback delivered`);
      const deliveryCpu = deliveryMeter.stop();
      const workerCpu = workerMeter.stop();
      const from = Math.max(1, Math.floor(acked / 10));
      const stats = await pipeline.call('stats', { at: [from, acked] });
      const [t1, t2] = stats.timesAt;
      const perSec = ((acked - from) * 1000) / (t2 - t1);

      log(`cluster bench (${target}): end to end at ${settings.e2eRates[0]}/s`);
      const paced = await runPaced(
        settings,
        settings.e2eRates[0],
        settings.e2eDuration,
        `cluster-e2e-${target.replace(' ', '-')}`,
        { startStore },
      );
      const ingestRedis = redisCpu(ingestCpu);
      const deliveryRedis = redisCpu(deliveryCpu);
      return {
        ingest: {
          perSec: ingest.acceptedPerSec,
          p99: ingest.latencyMs.p99,
          gatewayUsPerAck: ((ingestCpu.used.gateway?.seconds ?? 0) * 1e6) / acked,
          redisUsPerAck: ingestRedis.map((seconds) => (seconds * 1e6) / acked),
        },
        delivery: {
          perSec,
          startupMs: stats.timesAt[0] - started,
          workerUsPerDelivery: ((workerCpu.used.worker?.seconds ?? 0) * 1e6) / acked,
          redisUsPerDelivery: deliveryRedis.map((seconds) => (seconds * 1e6) / acked),
        },
        e2e: {
          rate: paced.rate,
          p50: paced.received.latency.p50,
          p99: paced.received.latency.p99,
          lost: paced.lostAll,
        },
      };
    });
  }
  const sum = (values) => values.reduce((total, value) => total + value, 0);
  for (const [target, result] of Object.entries(raw)) {
    const shards = result.ingest.redisUsPerAck.length;
    const perShard = (values) =>
      shards === 1 ? '' : ` (per shard ${values.map((value) => value.toFixed(0)).join(' / ')})`;
    rows.push(
      figure('cluster', `${target}: ingest acks/s`, result.ingest.perSec, '/s'),
      figure('cluster', `${target}: ingest p99`, result.ingest.p99, 'ms'),
      figure('cluster', `${target}: deliveries/s`, result.delivery.perSec, '/s'),
      figure(
        'cluster',
        `${target}: Redis CPU per callback end to end`,
        sum(result.ingest.redisUsPerAck) + sum(result.delivery.redisUsPerDelivery),
        'µs',
        {
          note: `ingest ${sum(result.ingest.redisUsPerAck).toFixed(0)}${perShard(result.ingest.redisUsPerAck)} + delivery ${sum(result.delivery.redisUsPerDelivery).toFixed(0)}${perShard(result.delivery.redisUsPerDelivery)}; gateway ${result.ingest.gatewayUsPerAck.toFixed(0)} µs/ack, worker ${result.delivery.workerUsPerDelivery.toFixed(0)} µs/delivery`,
        },
      ),
      figure('cluster', `${target}: e2e ${result.e2e.rate}/s p99`, result.e2e.p99, 'ms', {
        note: `p50 ${result.e2e.p50.toFixed(1)} ms, acknowledged and not received: ${result.e2e.lost}`,
      }),
    );
  }
  return { rows, raw };
}
