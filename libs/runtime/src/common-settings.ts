import { parseClusterNode, type RedisSettingError, type RedisTarget } from './redis.js';
import {
  SettingsError,
  checkHostOrCidr,
  envEnum,
  envInt,
  envList,
  envOptionalInt,
  envUrl,
} from './settings.js';

/**
 * Settings both processes read, defined once (documented in the README's configuration table).
 * Apps spread it into their own schema.
 */
export const commonSettingsShape = {
  REDIS_URL: envUrl({
    default: 'redis://127.0.0.1:6379',
    protocols: ['redis', 'rediss', 'unix'],
  }),
  REDIS_CLUSTER_NODES: envList({
    item: (seed) => (parseClusterNode(seed) ? undefined : 'expected host:port'),
  }),
  LOG_LEVEL: envEnum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], {
    default: 'info',
  }),
  OUTBOUND_ALLOW: envList({ item: checkHostOrCidr }),
  GATEWAY_REGISTRATION_TTL_S: envInt({ default: 7 * 86_400, min: 60, max: 90 * 86_400 }),
  GATEWAY_EXPECT_CALLBACK_WITHIN_S: envInt({ default: 3_600, min: 1, max: 30 * 86_400 }),
  AUDIT_STREAM_MAX_LENGTH: envInt({ default: 100_000, min: 100 }),
  /** Stored callbacks and their delivery records (replay needs both). */
  STORE_CALLBACK_RETENTION_S: envInt({ default: 14 * 86_400, min: 3_600, max: 365 * 86_400 }),
  /** Dedup keys: a repeat of a callback within it is answered as a duplicate. */
  STORE_DEDUP_RETENTION_S: envInt({ default: 7 * 86_400, min: 3_600, max: 365 * 86_400 }),
  /** Parse submissions and their uploaded files. */
  STORE_SUBMISSION_RETENTION_S: envInt({ default: 14 * 86_400, min: 3_600, max: 365 * 86_400 }),
  /** Completed jobs of both queues (bull-board shows them; nothing else reads them). */
  STORE_JOB_RETENTION_S: envInt({ default: 3_600, min: 60, max: 30 * 86_400 }),
  /** A registration's own audit stream, after its last event. */
  AUDIT_REGISTRATION_RETENTION_S: envInt({
    default: 30 * 86_400,
    min: 3_600,
    max: 365 * 86_400,
  }),
  /** Partitions of the store (each its own hash tag, so its own slot on a cluster); unset:
   * 1 on a single Redis, 16 on a cluster (see {@link storePartitionsOf}). */
  STORE_PARTITIONS: envOptionalInt({ min: 1, max: 256 }),
  SHUTDOWN_DEADLINE_MS: envInt({ default: 10_000, min: 100, max: 600_000 }),
};

/** `STORE_PARTITIONS`, or its default: 1 on a single Redis, 16 on a Redis Cluster. */
export function storePartitionsOf(settings: {
  readonly STORE_PARTITIONS?: number | undefined;
  readonly REDIS_CLUSTER_NODES: readonly string[];
}): number {
  return settings.STORE_PARTITIONS ?? (settings.REDIS_CLUSTER_NODES.length > 0 ? 16 : 1);
}

/**
 * Loads settings at process start: on a {@link SettingsError} prints one line per bad variable
 * (`<process>: invalid setting NAME: ...`, no stack trace) and exits with code 2.
 */
export function loadSettingsOrExit<T>(processName: string, load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof SettingsError)) throw error;
    for (const problem of error.problems) {
      process.stderr.write(`${processName}: invalid setting ${problem}\n`);
    }
    process.stderr.write(
      `${processName}: not started. Every setting is described in the README ("Configuration").\n`,
    );
    process.exit(2);
  }
}

/** The Redis target of the settings: `REDIS_URL`, and `REDIS_CLUSTER_NODES` when set. */
export function redisTargetOf(settings: {
  readonly REDIS_URL: string;
  readonly REDIS_CLUSTER_NODES: readonly string[];
}): RedisTarget {
  return { url: settings.REDIS_URL, clusterNodes: settings.REDIS_CLUSTER_NODES };
}

/**
 * `REDIS_URL` beside `REDIS_CLUSTER_NODES`: it then gives only credentials and TLS, so what it
 * says beyond them and the cluster cannot honour is refused, not ignored: a Unix socket (the
 * cluster client reaches its nodes over TCP) and a database other than 0 (a cluster has no
 * other).
 */
export function checkRedisTarget(settings: {
  readonly REDIS_URL: string;
  readonly REDIS_CLUSTER_NODES: readonly string[];
}): string[] {
  if (settings.REDIS_CLUSTER_NODES.length === 0) return [];
  const url = new URL(settings.REDIS_URL);
  if (url.protocol === 'unix:') {
    return [
      'REDIS_URL: a Unix socket cannot reach a Redis Cluster (REDIS_CLUSTER_NODES is set): use redis:// or rediss:// (its host is not used; its credentials and TLS are), or leave REDIS_URL unset',
    ];
  }
  // Named in the path (`/3`) or the query (`?db=3`): either must be 0.
  const db = [url.pathname.replace(/^\/+|\/+$/g, ''), url.searchParams.get('db')].find(
    (named) => named && named !== '0',
  );
  return db
    ? [
        `REDIS_URL: names database ${db}, but a Redis Cluster has only database 0 (REDIS_CLUSTER_NODES is set): drop the database from the URL`,
      ]
    : [];
}

/**
 * What a process does when its Redis settings cannot work (see `RedisSettingError`): one line
 * on stderr (`<process>: <what to set>`), then exit code 2, as for an invalid setting.
 */
export function exitOnSettingError(processName: string): (error: RedisSettingError) => void {
  return (error) => {
    process.stderr.write(`${processName}: ${error.message}\n`);
    process.exit(2);
  };
}
