import { fileURLToPath } from 'node:url';
import { waitForHttp } from './http.js';
import { startProcess, type WatchedProcess } from './process.js';
import { freePort } from './redis.js';

// The repository root, three levels up from src/ (tests) and dist/ alike.
const root = fileURLToPath(new URL('../../..', import.meta.url));

/** The built gateway and worker (`apps/*\/dist/main.js`), running as processes on loopback. */
export interface AppStack {
  gatewayUrl: string;
  workerUrl: string;
  gateway: WatchedProcess;
  worker: WatchedProcess;
  /** The environment both were started with. */
  env: Readonly<Record<string, string>>;
  /** Starts the worker again (after a kill or stop), with the same settings; waits until ready. */
  restartWorker(timeoutMs?: number): Promise<void>;
  /** Starts the gateway again on the same port; waits until it takes callbacks. */
  restartGateway(timeoutMs?: number): Promise<void>;
  /** Waits until the gateway answers 200 on `gatewayReady` and the worker on `/readyz`. */
  ready(timeoutMs?: number): Promise<void>;
  /** Stops both (SIGTERM, SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** Every output line of every process this stack started, restarted ones included. */
  output(): string[];
}

/** Options for {@link startAppStack}. */
export interface AppStackOptions {
  /** `REDIS_URL` (with `redisClusterNodes`: only its credentials and scheme count). */
  redisUrl: string;
  /** `REDIS_CLUSTER_NODES`: run both on a Redis Cluster (see `startRedisCluster`). */
  redisClusterNodes?: string;
  /** Settings for both processes (ports and REDIS_URL are added). */
  env: Readonly<Record<string, string>>;
  /** Wait until both are ready before resolving. @defaultValue true */
  waitReady?: boolean;
  /** What "ready" means for the gateway. @defaultValue `'/readyz'` */
  gatewayReady?: '/readyz' | '/readyz/ingest';
  /** @defaultValue 20_000 */
  readyTimeoutMs?: number;
}

/**
 * Starts the built gateway and worker on free loopback ports (build them first: the test
 * projects depend on `^build`). On a start-up failure, stops both and reports their last lines.
 */
export async function startAppStack(options: AppStackOptions): Promise<AppStack> {
  const gatewayPort = await freePort();
  const workerPort = await freePort();
  const env = {
    ...options.env,
    REDIS_URL: options.redisUrl,
    ...(options.redisClusterNodes && { REDIS_CLUSTER_NODES: options.redisClusterNodes }),
    GATEWAY_PORT: String(gatewayPort),
    WORKER_PORT: String(workerPort),
  };
  const gatewayReady = options.gatewayReady ?? '/readyz';
  const timeout = options.readyTimeoutMs ?? 20_000;
  const started: WatchedProcess[] = [];
  const start = (app: 'gateway' | 'worker') => {
    const proc = startProcess({ args: [`${root}apps/${app}/dist/main.js`], env });
    started.push(proc);
    return proc;
  };
  const stack: AppStack = {
    gatewayUrl: `http://127.0.0.1:${gatewayPort}`,
    workerUrl: `http://127.0.0.1:${workerPort}`,
    gateway: start('gateway'),
    worker: start('worker'),
    env,
    async restartWorker(timeoutMs = timeout) {
      stack.worker = start('worker');
      await waitForHttp(`${stack.workerUrl}/readyz`, (status) => status === 200, timeoutMs);
    },
    async restartGateway(timeoutMs = timeout) {
      stack.gateway = start('gateway');
      await waitForHttp(`${stack.gatewayUrl}/readyz/ingest`, (status) => status === 200, timeoutMs);
    },
    async ready(timeoutMs = timeout) {
      await waitForHttp(
        `${stack.gatewayUrl}${gatewayReady}`,
        (status) => status === 200,
        timeoutMs,
      );
      await waitForHttp(`${stack.workerUrl}/readyz`, (status) => status === 200, timeoutMs);
    },
    async stop() {
      await Promise.all([stack.gateway.stop(), stack.worker.stop()]);
    },
    output: () => started.flatMap((proc) => proc.lines),
  };
  if (options.waitReady ?? true) {
    try {
      await stack.ready();
    } catch (error) {
      await stack.stop();
      const output = [...stack.gateway.lines, ...stack.worker.lines].slice(-20).join('\n');
      throw new Error(`${String(error)}; process output:\n${output}`, { cause: error });
    }
  }
  return stack;
}
