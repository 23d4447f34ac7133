import type { Logger } from '@callback-gateway/audit';
import { Redis, type RedisOptions } from 'ioredis';
import { backoffDelay } from './backoff.js';
import { maskUrlCredentials } from './settings.js';

/** How a connection behaves while Redis is away. */
export type RedisRole =
  /** Commands fail at once (HTTP handlers answer 503 instead of waiting): `enableOfflineQueue: false`. */
  | 'producer'
  /** Commands wait for the connection (queue workers): `maxRetriesPerRequest: null`. */
  | 'consumer';

/** Options for {@link connectRedis}. */
export interface ConnectRedisOptions {
  url: string;
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
}

/** A Redis connection that reports its state in plain words and reconnects by itself. */
export interface SupervisedRedis {
  readonly client: Redis;
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
 * An ioredis client for a `REDIS_URL` the settings accept: `redis://`, `rediss://`, or a Unix
 * socket (`unix:///path?db=N`, Redis on the same host without TCP: less CPU per round trip on
 * both sides), read by {@link unixSocketOptions} since ioredis's own reading takes the wrong path.
 */
export function createRedisClient(url: string, options: RedisOptions): Redis {
  const socket = unixSocketOptions(url);
  return socket ? new Redis({ ...socket, ...options }) : new Redis(url, options);
}

/**
 * Connects to Redis without ever crashing the process: while Redis is unreachable it logs one
 * clear line (what is missing, how to start it), keeps retrying with capped backoff, and logs
 * again when it is back.
 */
export function connectRedis(options: ConnectRedisOptions): SupervisedRedis {
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;
  const where = describeRedisUrl(options.url);
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
  const client = createRedisClient(options.url, settings);
  let ready = false;
  let everReady = false;
  let complained = false;
  let problem: string | undefined = 'connecting';
  let waiters: (() => void)[] = [];

  client.on('ready', () => {
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
  });
  client.on('error', (error: Error & { code?: string }) => {
    problem = error.code ? `${error.code}: ${error.message}` : error.message;
    if (complained) return;
    complained = true;
    const hint = ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ENOENT'].includes(error.code ?? '')
      ? 'Start one with "redis-server" (Debian: apt-get install redis-server) or point REDIS_URL at yours'
      : 'Check REDIS_URL and the server';
    log.warn(
      { redis: where, connection: options.name, reason: problem },
      `${everReady ? 'Lost the connection to' : 'Redis is not reachable at'} ${where} (${problem}). ${hint}; retrying with backoff up to ${maxBackoffMs / 1000} s, and /readyz reports not ready until then.`,
    );
  });
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
