import { fileURLToPath } from 'node:url';
import {
  freePort,
  startProcess,
  startRedis,
  startRedisCluster,
  waitForHttp,
} from '@callback-gateway/testing';
import { pin, redisPid } from './cpus.mjs';
import { onCleanup } from './util.mjs';

export const API_TOKEN = 'bench-api-token-0123456789abcdef';
const root = fileURLToPath(new URL('../..', import.meta.url));

/** Redis append-only settings by name: `off` (default), `everysec`, `always`. */
const AOF_ARGS = {
  off: ['--appendonly', 'no'],
  everysec: ['--appendonly', 'yes', '--appendfsync', 'everysec'],
  always: ['--appendonly', 'yes', '--appendfsync', 'always'],
};

/** A throwaway redis-server for one scenario, stopped by its cleanup. */
export async function startBenchRedis(settings) {
  const args = AOF_ARGS[settings.aof];
  if (!args) throw new Error(`--aof must be one of ${Object.keys(AOF_ARGS).join(', ')}`);
  const redis = await startRedis({ args, unixSocket: true });
  onCleanup(() => redis.close());
  redis.pid = redisPid(redis.port);
  pin(redis.pid, settings.cpus.servers);
  return redis;
}

/**
 * A throwaway Redis Cluster for one scenario (3 masters; replicas only when asked: the figures
 * are the primaries' work), stopped by its cleanup. `pids` are the masters', for CPU meters.
 */
export async function startBenchCluster(settings, { replicasPerMaster = 0 } = {}) {
  const args = AOF_ARGS[settings.aof];
  if (!args) throw new Error(`--aof must be one of ${Object.keys(AOF_ARGS).join(', ')}`);
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster, args });
  onCleanup(() => cluster.close());
  const { masters } = await cluster.roles();
  const pids = masters.map((node) => redisPid(node.port));
  for (const pid of pids) pin(pid, settings.cpus.servers);
  return { cluster, seeds: cluster.seeds, masters, pids };
}

async function ready(proc, url) {
  try {
    await waitForHttp(url, (status) => status === 200, 30_000);
  } catch (error) {
    throw new Error(`${error.message}\n${proc.lines.slice(-20).join('\n')}`);
  }
}

/**
 * The environment of the gateway and worker processes: the e2e suite's settings where they
 * matter, then `--app-env` (which may change those), then what the harness owns (Redis, ports,
 * the API token), which nothing overrides.
 */
export function appEnvironment({ redisUrl, clusterNodes, gatewayPort, workerPort }, appEnv = {}) {
  return {
    LOG_LEVEL: 'warn',
    PUBLIC_BASE_URL: 'https://hooks.example.com',
    WEBHOOK_URL_VERIFY: 'syntax',
    OUTBOUND_ALLOW: '127.0.0.1',
    DELIVERY_BREAKER_FAILURES: '1000',
    SHUTDOWN_DEADLINE_MS: '5000',
    ...appEnv,
    REDIS_URL: redisUrl,
    ...(clusterNodes && { REDIS_CLUSTER_NODES: clusterNodes }),
    GATEWAY_API_TOKENS: API_TOKEN,
    GATEWAY_HOST: '127.0.0.1',
    GATEWAY_PORT: String(gatewayPort),
    WORKER_HOST: '127.0.0.1',
    WORKER_PORT: String(workerPort),
  };
}

/**
 * The built gateway (and worker) as processes, with the e2e suite's settings where they matter:
 * a syntax-checked public base URL, loopback deliveries allowed, warn-level logs, and the
 * breaker out of the way (every delivery goes to one origin, the local pipeline).
 */
export async function startApps(
  redis,
  settings,
  { gateway = true, worker = true, gatewayNodeArgs } = {},
) {
  const gatewayPort = await freePort();
  const workerPort = await freePort();
  const env = appEnvironment(
    {
      // `--redis-socket`: Redis on the same host without TCP (REDIS_URL=unix:///...). A
      // cluster (startBenchCluster) is reached through its seeds.
      redisUrl: redis.seeds
        ? 'redis://127.0.0.1:6379'
        : settings.redisSocket
          ? redis.socketUrl
          : redis.url,
      clusterNodes: redis.seeds,
      gatewayPort,
      workerPort,
    },
    settings.appEnv,
  );
  // `--node-args`: how the processes are started (e.g. `--single-threaded-gc`).
  const extraNodeArgs = settings.nodeArgs ? settings.nodeArgs.split(/\s+/).filter(Boolean) : [];
  const apps = {
    gatewayUrl: `http://127.0.0.1:${gatewayPort}`,
    workerUrl: `http://127.0.0.1:${workerPort}`,
    gateway: undefined,
    worker: undefined,
    async startGateway(nodeArgs = []) {
      const proc = startProcess({
        args: [...extraNodeArgs, ...nodeArgs, `${root}apps/gateway/dist/main.js`],
        env,
      });
      onCleanup(() => proc.stop());
      apps.gateway = proc;
      pin(proc.child.pid, settings.cpus.servers);
      await ready(proc, `${apps.gatewayUrl}/readyz`);
      return proc;
    },
    async startWorker(nodeArgs = []) {
      const proc = startProcess({
        args: [...extraNodeArgs, ...nodeArgs, `${root}apps/worker/dist/main.js`],
        env,
      });
      onCleanup(() => proc.stop());
      apps.worker = proc;
      pin(proc.child.pid, settings.cpus.servers);
      await ready(proc, `${apps.workerUrl}/readyz`);
      return proc;
    },
  };
  if (gateway) await apps.startGateway(gatewayNodeArgs);
  if (worker) await apps.startWorker();
  return apps;
}

/** Registers `count` jobs delivering to `deliverTo(i)`; resolves the callback paths. */
export async function register(gatewayUrl, count, deliverTo) {
  const paths = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(count, 16) }, async () => {
      while (next < count) {
        const i = next++;
        const response = await fetch(`${gatewayUrl}/v1/registrations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ deliver_to: deliverTo(i) }),
        });
        const body = await response.json();
        if (response.status !== 201) {
          throw new Error(`registration refused: ${response.status} ${JSON.stringify(body)}`);
        }
        paths[i] = new URL(body.callback_url).pathname;
      }
    }),
  );
  return paths;
}
