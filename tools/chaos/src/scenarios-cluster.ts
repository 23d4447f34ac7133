import { QUEUES, storeKeys, type StoreKeys } from '@callback-gateway/store';
import { Cluster } from 'ioredis';
import { startAppStack, startRedisCluster } from '@callback-gateway/testing';
import { drain, type ScenarioResult, type ScenarioSize } from './harness.js';
import { Ledger } from './ledger.js';
import { describeLoad, startLoad, type LoadOptions } from './load.js';
import { startPipeline } from './pipeline.js';
import { CHAOS_DEFAULTS, gatewayApi, register, sleep, until, type Registration } from './stack.js';

const pick = <T>(size: ScenarioSize, short: T, full: T): T => (size === 'short' ? short : full);

/**
 * Failover under load on a Redis Cluster (3 masters, 1 replica each, the store in 16
 * partitions): `CLUSTER FAILOVER FORCE` on the replica of the master holding the busiest
 * partitions (the most registrations), then a SIGKILL of the master holding them (its replica
 * takes over after the node timeout). With `GATEWAY_ACK_REPLICAS=1` no acknowledged callback is
 * lost; with `0` the result says how many were (`lost`, `acknowledgedThenLost`).
 */
export function clusterFailover(ackReplicas: 0 | 1) {
  return async (size: ScenarioSize): Promise<ScenarioResult> => {
    const started = Date.now();
    const load: LoadOptions = pick(
      size,
      { senders: 8, ratePerSecond: 200, durationMs: 10_000 },
      { senders: 16, ratePerSecond: 400, durationMs: 40_000 },
    );
    const ledger = new Ledger();
    const secrets = new Map<string, string>();
    // A replica may take over however long its link was down: the scenario measures what the
    // replicas have, not whether Redis judges them fresh enough.
    const cluster = await startRedisCluster({
      nodeTimeoutMs: 1_000,
      args: ['--cluster-replica-validity-factor', '0'],
    });
    const pipeline = await startPipeline(ledger, (path) => secrets.get(path));
    const stack = await startAppStack({
      redisUrl: 'redis://127.0.0.1:6379',
      redisClusterNodes: cluster.seeds,
      env: {
        ...CHAOS_DEFAULTS,
        GATEWAY_ACK_REPLICAS: String(ackReplicas),
        GATEWAY_ACK_REPLICAS_TIMEOUT_MS: '500',
      },
      readyTimeoutMs: 30_000,
    }).catch(async (error: unknown) => {
      await pipeline.close();
      await cluster.close();
      throw error;
    });
    try {
      const registrations: Registration[] = [];
      for (let i = 0; i < 16; i++) {
        const registration = await register(stack, pipeline.url(`/cluster/${i}`));
        secrets.set(registration.path, registration.deliverySecret);
        registrations.push(registration);
      }
      const [anyNode] = cluster.nodes;
      if (!anyNode) throw new Error('the cluster has no node');
      // The slot of the partition with the most registrations stands for the busiest master's.
      const keys = storeKeys('cbgw', { partitions: 16 });
      const perPartition = new Map<string, number>();
      for (const registration of registrations) {
        const tag = keys.of(registration.id).tag;
        perPartition.set(tag, (perPartition.get(tag) ?? 0) + 1);
      }
      const perMaster = new Map<number, { slot: number; count: number }>();
      for (const [tag, count] of perPartition) {
        const slot = Number(await cluster.command(anyNode, 'CLUSTER', 'KEYSLOT', tag));
        const master = (await cluster.masterOfSlot(slot)).port;
        const seen = perMaster.get(master);
        perMaster.set(master, { slot: seen?.slot ?? slot, count: (seen?.count ?? 0) + count });
      }
      const [busiest] = [...perMaster.values()].sort((a, b) => b.count - a.count);
      if (!busiest) throw new Error('no registration');
      const { slot } = busiest;
      const loadStarted = Date.now();
      const traffic = startLoad(stack.gatewayUrl, registrations, ledger, load);

      await sleep(loadStarted + load.durationMs / 3 - Date.now());
      const first = await cluster.masterOfSlot(slot);
      const replica = await cluster.replicaOf(first);
      if (!replica) throw new Error('the busiest master has no replica');
      await cluster.command(replica, 'CLUSTER', 'FAILOVER', 'FORCE');
      await cluster.waitUntilOk(15_000);
      // The old master follows the new one before the second fault.
      await until(
        async () =>
          (await cluster.masterOfSlot(slot)) === replica &&
          /master_link_status:up/.test(await cluster.command(first, 'INFO', 'replication')),
        15_000,
      );

      await sleep(loadStarted + (2 * load.durationMs) / 3 - Date.now());
      const second = await cluster.masterOfSlot(slot);
      await second.kill();
      await cluster.waitUntilOk(20_000);
      await traffic.done;
      // The clients follow the new slot map within seconds; the API answers again then.
      await until(
        async () =>
          (await gatewayApi(stack, 'GET', '/v1/deliveries?state=dead_lettered')).status === 200,
        30_000,
        'the gateway API answering after the failover',
      );
      // Jobs a killed master held come back through BullMQ's stalled-job check (30 s, twice).
      const { accounting, unresolvedStates, drainMs } = await drain({ stack, ledger }, 150_000);
      const unresolvedJobs = await describeUnresolved(cluster.seeds, keys, ledger.unresolved());
      // And what the processes said (LOG_LEVEL=warn: warnings and errors), the last of it.
      const lastWarnings =
        unresolvedJobs &&
        stack
          .output()
          .slice(-15)
          .map((line) => line.slice(0, 400))
          .join('\n');
      return {
        name: `cluster failover, GATEWAY_ACK_REPLICAS=${ackReplicas}`,
        load: describeLoad(load),
        fault:
          "CLUSTER FAILOVER FORCE on the busiest master's replica, then SIGKILL of the new master",
        accounting,
        observations: {
          drainMs,
          rejectedSignatures: pipeline.rejected.length,
          busiestMasterRegistrations: busiest.count,
          ...(unresolvedJobs && { unresolvedJobs }),
          ...(lastWarnings && { lastWarnings }),
        },
        unresolvedStates,
        durationMs: Date.now() - started,
      };
    } finally {
      await stack.stop();
      await pipeline.close();
      await cluster.close();
    }
  };
}

/** What became of unresolved deliveries: their state and the job that owns them (up to 5). */
async function describeUnresolved(
  seeds: string,
  keys: StoreKeys,
  ids: readonly string[],
): Promise<string | undefined> {
  if (ids.length === 0) return undefined;
  const store = new Cluster(
    seeds.split(',').map((seed) => ({ host: '127.0.0.1', port: Number(seed.split(':')[1]) })),
  );
  store.on('error', () => undefined);
  try {
    const lines: string[] = [];
    for (const id of ids.slice(0, 5)) {
      const [state, job] = await store.hmget(keys.delivery(id), 'delivery_state', 'job');
      // The job's BullMQ state, read from its keys (a Queue here would outlive this client).
      const queue = (type: string) => `${keys.of(id).tag}:${QUEUES.deliveries}:${type}`;
      let jobState = 'none';
      if (job) {
        const [exists, completed, failed, delayed, waiting, active] = await Promise.all([
          store.exists(queue(job)),
          store.zscore(queue('completed'), job),
          store.zscore(queue('failed'), job),
          store.zscore(queue('delayed'), job),
          store.lpos(queue('wait'), job),
          store.lpos(queue('active'), job),
        ]);
        jobState =
          exists === 0
            ? 'missing'
            : completed !== null
              ? 'completed'
              : failed !== null
                ? 'failed'
                : delayed !== null
                  ? 'delayed'
                  : waiting !== null
                    ? 'waiting'
                    : active !== null
                      ? 'active'
                      : 'elsewhere';
      }
      lines.push(`${id}: ${state ?? 'no record'}, job ${job ?? '-'} ${jobState}`);
    }
    return lines.join('; ');
  } finally {
    store.disconnect();
  }
}
