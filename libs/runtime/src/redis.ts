import type { Logger } from '@callback-gateway/audit';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { backoffDelay } from './backoff.js';
import { maskUrlCredentials } from './settings.js';

/** How a connection behaves while Redis is away. */
export type RedisRole =
  /** Commands fail at once (HTTP handlers answer 503 instead of waiting): `enableOfflineQueue: false`. */
  | 'producer'
  /** Commands wait for the connection (queue workers): `maxRetriesPerRequest: null`. */
  | 'consumer';

/** A single-node client or a Redis Cluster client: the store, the queues and the caches take
 * either. */
export type RedisClient = Redis | Cluster;

/**
 * Where Redis is: `url` (`REDIS_URL`) alone for one node; with `clusterNodes`
 * (`REDIS_CLUSTER_NODES`, `host:port` seeds) a Redis Cluster, reached with the credentials and
 * TLS (`rediss://`) of `url`, whose host is then not used.
 */
export interface RedisTarget {
  url: string;
  /** @defaultValue `[]` (one node) */
  clusterNodes?: readonly string[];
}

/** Why a process must not start with its Redis settings (it exits with code 2). */
export class RedisSettingError extends Error {
  readonly code = 'REDIS_CLUSTER_NODES_REQUIRED';
}

/** Options for {@link connectRedis}. */
export interface ConnectRedisOptions extends RedisTarget {
  role: RedisRole;
  /** Shown in `CLIENT LIST` and in log lines, e.g. `gateway:ingest`. */
  name: string;
  logger: Logger;
  /**
   * Longest wait between two connection attempts.
   * @defaultValue 5_000
   */
  maxBackoffMs?: number;
  /** @defaultValue `Math.random` */
  random?: () => number;
  /** Report connection problems at debug level only: for secondary connections of a process
   * whose main connection already tells the operator. @defaultValue false */
  quiet?: boolean;
  /** Extra ioredis options (tests, TLS). */
  redisOptions?: RedisOptions;
  /**
   * Called (once) when the settings cannot work: a single-node client pointed at a node of a
   * Redis Cluster (`cluster_enabled:1`), which would answer MOVED to most keys. The connection
   * then stays not ready and closed. The apps exit with code 2 (see `exitOnSettingError`).
   * @defaultValue logs the error
   */
  onSettingError?: (error: RedisSettingError) => void;
}

/** A Redis connection that reports its state in plain words and reconnects by itself. */
export interface SupervisedRedis {
  readonly client: RedisClient;
  /** Where it connects, without credentials, for messages. */
  readonly where: string;
  /** True while commands can be sent. */
  isReady(): boolean;
  /** The last connection problem, in words, while not ready. */
  problem(): string | undefined;
  /** Resolves once ready (or at once if ready); rejects when `signal` aborts. */
  waitUntilReady(signal?: AbortSignal): Promise<void>;
  /** Closes the connection (QUIT, then disconnect after 1 s). Idempotent. */
  close(): Promise<void>;
}

/** The URL without credentials, for messages. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    // Credentials in the query (a Unix socket's `?password=`) are masked.
    return maskUrlCredentials(parsed.toString().replace(/\/$/, ''));
  } catch {
    return '(an unparsable REDIS_URL)';
  }
}

/** The target without credentials, for messages: the URL, or the cluster's seeds. */
export function describeRedisTarget(target: RedisTarget): string {
  const seeds = target.clusterNodes ?? [];
  return seeds.length > 0
    ? `the Redis Cluster at ${seeds.join(',')}`
    : describeRedisUrl(target.url);
}

/** Parses one `host:port` seed of `REDIS_CLUSTER_NODES`. */
export function parseClusterNode(seed: string): { host: string; port: number } | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(seed);
  const port = Number(match?.[2]);
  if (!match?.[1] || !(port > 0 && port < 65_536)) return undefined;
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
}

/**
 * The options of a Cluster client for the per-connection `options` {@link createRedisClient}
 * takes: the node options (credentials and TLS from `url`) go to every node, the offline queue
 * and the retry strategy to the cluster.
 */
function clusterOptions(url: string, options: RedisOptions): ClusterOptions {
  const parsed = new URL(url);
  const { enableOfflineQueue, retryStrategy, lazyConnect, ...node } = options;
  return {
    redisOptions: {
      ...node,
      ...(parsed.username && { username: decodeURIComponent(parsed.username) }),
      ...(parsed.password && { password: decodeURIComponent(parsed.password) }),
      ...(parsed.protocol === 'rediss:' && { tls: node.tls ?? {} }),
    },
    ...(enableOfflineQueue !== undefined && { enableOfflineQueue }),
    ...(lazyConnect !== undefined && { lazyConnect }),
    ...(retryStrategy && { clusterRetryStrategy: (times: number) => retryStrategy(times) }),
  };
}

/**
 * The ioredis options of a Unix socket URL (`unix:///path/to/redis.sock?db=N&username=...&password=...`,
 * the form the settings accept), or `undefined` for any other URL. ioredis's own reading of such
 * a URL takes whatever follows the scheme as the path; this takes the decoded path alone.
 */
export function unixSocketOptions(url: string): RedisOptions | undefined {
  if (!url.startsWith('unix:')) return undefined;
  const parsed = new URL(url);
  const options: RedisOptions = { path: decodeURIComponent(parsed.pathname) };
  const db = parsed.searchParams.get('db');
  const username = parsed.searchParams.get('username');
  const password = parsed.searchParams.get('password');
  if (db) options.db = Number(db);
  if (username) options.username = username;
  if (password) options.password = password;
  return options;
}

function quietLogger(logger: Logger): Pick<Logger, 'info' | 'warn'> {
  return { info: logger.debug.bind(logger), warn: logger.debug.bind(logger) };
}

/**
 * The one place clients are made. For a `REDIS_URL` the settings accept: `redis://`,
 * `rediss://`, or a Unix socket (`unix:///path?db=N`, Redis on the same host without TCP: less
 * CPU per round trip on both sides), read by {@link unixSocketOptions} since ioredis's own
 * reading takes the wrong path. With cluster seeds (`REDIS_CLUSTER_NODES`): ioredis's `Cluster`
 * client, with the credentials and TLS of the URL.
 */
export function createRedisClient(
  target: string | RedisTarget,
  options: RedisOptions,
): RedisClient {
  const { url, clusterNodes = [] } = typeof target === 'string' ? { url: target } : target;
  if (clusterNodes.length > 0) {
    const seeds = clusterNodes.map((seed) => {
      const node = parseClusterNode(seed);
      if (!node) throw new Error(`invalid cluster node "${seed}": expected host:port`);
      return node;
    });
    return new Cluster(seeds, clusterOptions(url, options));
  }
  const socket = unixSocketOptions(url);
  return socket ? new Redis({ ...socket, ...options }) : new Redis(url, options);
}

/** The line a single-node client's process prints when its Redis is a cluster node. */
function clusterNodeMessage(where: string): string {
  return `Redis at ${where} is a node of a Redis Cluster (cluster_enabled:1): set REDIS_CLUSTER_NODES=<host:port,...> (its nodes; REDIS_URL then gives only credentials and TLS). Not started.`;
}

/**
 * Connects to Redis without ever crashing the process: while Redis is unreachable it logs one
 * clear line (what is missing, how to start it), keeps retrying with capped backoff, and logs
 * again when it is back.
 */
export function connectRedis(options: ConnectRedisOptions): SupervisedRedis {
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;
  const where = describeRedisTarget(options);
  const clustered = (options.clusterNodes ?? []).length > 0;
  const log = options.quiet ? quietLogger(options.logger) : options.logger;
  const settings: RedisOptions = {
    connectionName: options.name,
    lazyConnect: false,
    connectTimeout: 5_000,
    enableOfflineQueue: options.role === 'consumer',
    maxRetriesPerRequest: options.role === 'consumer' ? null : 1,
    // Equal jitter: at least half a step between two attempts, so no client reconnects in a
    // tight loop, while a fleet restarted at once still spreads out.
    retryStrategy: (times) =>
      backoffDelay(times, { baseMs: 100, capMs: maxBackoffMs, jitter: 'equal' }, options.random),
    ...options.redisOptions,
  };
  const client = createRedisClient(options, settings);
  let ready = false;
  let everReady = false;
  let complained = false;
  let refused = false;
  let problem: string | undefined = 'connecting';
  let waiters: (() => void)[] = [];

  const becomeReady = () => {
    if (refused || client.status !== 'ready') return;
    ready = true;
    problem = undefined;
    if (complained || everReady)
      log.info(
        { redis: where, connection: options.name },
        `Redis is reachable again at ${where}: ready`,
      );
    everReady = true;
    complained = false;
    for (const wake of waiters) wake();
    waiters = [];
  };
  client.on('ready', () => {
    if (clustered) return becomeReady();
    // A cluster node answers MOVED to most keys of a single-node client: refuse it at once
    // rather than sit not ready.
    client
      .info('cluster')
      .then((info) => {
        if (!/^cluster_enabled:1\b/m.test(info)) return becomeReady();
        refused = true;
        problem = clusterNodeMessage(where);
        client.disconnect();
        const error = new RedisSettingError(problem);
        if (options.onSettingError) options.onSettingError(error);
        else options.logger.error({ redis: where, connection: options.name }, problem);
      })
      .catch(() => becomeReady());
  });
  const onError = (error: Error & { code?: string }) => {
    problem = error.code ? `${error.code}: ${error.message}` : error.message;
    if (complained) return;
    complained = true;
    const hint = ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ENOENT'].includes(error.code ?? '')
      ? 'Start one with "redis-server" (Debian: apt-get install redis-server) or point REDIS_URL at yours'
      : clustered
        ? 'Check REDIS_CLUSTER_NODES, REDIS_URL (credentials, TLS) and the cluster'
        : 'Check REDIS_URL and the server';
    log.warn(
      { redis: where, connection: options.name, reason: problem },
      `${everReady ? 'Lost the connection to' : 'Redis is not reachable at'} ${where} (${problem}). ${hint}; retrying with backoff up to ${maxBackoffMs / 1000} s, and /readyz reports not ready until then.`,
    );
  };
  client.on('error', onError);
  // A Cluster client tells of each node's trouble apart.
  if (clustered) client.on('node error', onError);
  client.on('close', () => {
    ready = false;
    problem ??= 'connection closed';
  });
  client.on('end', () => {
    ready = false;
  });

  let closing: Promise<void> | undefined;
  return {
    client,
    where,
    isReady: () => ready && client.status === 'ready',
    problem: () => (ready ? undefined : problem),
    waitUntilReady(signal) {
      if (ready) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const onAbort = () => reject(signal?.reason ?? new Error('aborted'));
        if (signal?.aborted) return onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        waiters.push(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    },
    close() {
      closing ??= (async () => {
        if (client.status === 'end') return;
        const quit = client.status === 'ready' ? client.quit().catch(() => undefined) : undefined;
        const timer = new Promise((resolve) => setTimeout(resolve, 1_000).unref());
        await Promise.race([quit, timer]);
        client.disconnect();
      })();
      return closing;
    },
  };
}
