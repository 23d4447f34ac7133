import {
  createAuditLog,
  createLogger,
  createRedisAuditStore,
  logAuditSink,
  type CreateLoggerOptions,
  type Logger,
  type ManagedAuditLog,
  type RedisAuditStoreOptions,
} from '@callback-gateway/audit';
import { createNotifier, type ConditionName, type Notifier } from '@callback-gateway/notify';
import { createOutboundPolicy, type OutboundPolicy } from '@callback-gateway/outbound';
import {
  connectRedis,
  createMetricsRegistry,
  redisTargetOf,
  type ReadinessCheck,
  type RedisSettingError,
  type SupervisedRedis,
} from '@callback-gateway/runtime';
import type { Registry } from 'prom-client';

/** The settings both processes read for what {@link startProcessBasics} builds. */
export interface ProcessBasicsSettings {
  readonly LOG_LEVEL: string;
  readonly REDIS_URL: string;
  readonly REDIS_CLUSTER_NODES: readonly string[];
  readonly OUTBOUND_ALLOW: readonly string[];
  readonly AUDIT_STREAM_MAX_LENGTH: number;
  readonly AUDIT_REGISTRATION_RETENTION_S: number;
  readonly NOTIFY_WEBHOOK_URLS: readonly string[];
  readonly NOTIFY_WEBHOOK_SECRET: string | undefined;
  readonly NOTIFY_SLACK_WEBHOOK_URLS: readonly string[];
  readonly NOTIFY_REPEAT_AFTER_S: number;
  readonly NOTIFY_MAX_PER_MINUTE: number;
  readonly NGROK_AUTHTOKEN: string | undefined;
  readonly WEBHOOK_URL_PROBE_KEY: string | undefined;
}

/** Options for {@link startProcessBasics}. */
export interface ProcessBasicsOptions {
  /** `gateway` or `worker`: the logger's name, the metrics' `process` label, the audit actor. */
  process: string;
  settings: ProcessBasicsSettings;
  /** This process's own secrets besides the shared ones (API tokens, the LlamaCloud key). */
  secrets: readonly (string | undefined)[];
  /** The operational conditions this process reports (see `@callback-gateway/notify`). */
  conditions: readonly ConditionName[];
  /**
   * The name of the fail-fast Redis connection in `CLIENT LIST` and log lines.
   * @defaultValue the process name
   */
  redisName?: string;
  /**
   * Report that connection's problems at debug level only (another connection of the process
   * already tells the operator).
   * @defaultValue false
   */
  quietRedis?: boolean;
  /**
   * How long audit events wait to be written together.
   * @defaultValue the audit log's own default
   */
  auditFlushDelayMs?: number;
  /** The store's partitions, for the audit streams (see `RedisAuditStoreOptions.partitions`).
   * @defaultValue one: everything under `{cbgw}:audit` */
  auditPartitions?: RedisAuditStoreOptions['partitions'];
  /** Where log lines go. @defaultValue stdout */
  logDestination?: CreateLoggerOptions['destination'];
  /** What to do when the Redis settings cannot work (see `connectRedis`). Every connection of
   * the process should report to the same place. @defaultValue logs it */
  onRedisSettingError?: (error: RedisSettingError) => void;
}

/** What every process of the product starts with. */
export interface ProcessBasics {
  /** Masks {@link ProcessBasics.knownSecrets} in every line. */
  readonly logger: Logger;
  readonly registry: Registry;
  /** Every secret of the process's settings: never logged, never audited. */
  readonly knownSecrets: readonly (string | undefined)[];
  /** A fail-fast (`producer`) connection: commands fail at once while Redis is away. Owned. */
  readonly redis: SupervisedRedis;
  readonly outbound: OutboundPolicy;
  /** Present when a notification target is configured. */
  readonly notifier: Notifier | undefined;
  /** Log lines always; the Redis stream and notifications when they are there. */
  readonly audit: ManagedAuditLog;
  /** Closes the audit trail (flushing it), the notifier, then the Redis connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * The readiness check of a Redis connection: ready, or why not in words that name the server
 * (without its credentials).
 */
export function redisReadiness(redis: SupervisedRedis): ReadinessCheck {
  return {
    name: 'redis',
    check: () => redis.isReady() || `Redis at ${redis.where}: ${redis.problem() ?? 'not ready'}`,
  };
}

/**
 * Builds what the gateway and the worker wire alike: the logger that masks every secret of the
 * settings, the metrics registry, a fail-fast Redis connection (reconnecting with backoff in the
 * background), the outbound policy, the notifier when a target is configured, and the audit
 * trail. Nothing here waits for Redis.
 */
export function startProcessBasics(options: ProcessBasicsOptions): ProcessBasics {
  const { settings } = options;
  const knownSecrets = [
    ...options.secrets,
    settings.NGROK_AUTHTOKEN,
    settings.WEBHOOK_URL_PROBE_KEY,
    settings.NOTIFY_WEBHOOK_SECRET,
    ...settings.NOTIFY_SLACK_WEBHOOK_URLS,
  ];
  const logger = createLogger({
    name: options.process,
    level: settings.LOG_LEVEL,
    knownSecrets,
    ...(options.logDestination && { destination: options.logDestination }),
  });
  const registry = createMetricsRegistry({ process: options.process });
  const redis = connectRedis({
    ...redisTargetOf(settings),
    role: 'producer',
    name: options.redisName ?? options.process,
    logger,
    quiet: options.quietRedis ?? false,
    ...(options.onRedisSettingError && { onSettingError: options.onRedisSettingError }),
  });
  const outbound = createOutboundPolicy({ allow: settings.OUTBOUND_ALLOW });
  const notifier =
    settings.NOTIFY_WEBHOOK_URLS.length + settings.NOTIFY_SLACK_WEBHOOK_URLS.length > 0
      ? createNotifier({
          source: options.process,
          webhookUrls: settings.NOTIFY_WEBHOOK_URLS,
          webhookSecret: settings.NOTIFY_WEBHOOK_SECRET,
          slackUrls: settings.NOTIFY_SLACK_WEBHOOK_URLS,
          policy: outbound,
          conditions: options.conditions,
          repeatAfterMs: settings.NOTIFY_REPEAT_AFTER_S * 1_000,
          maxPerMinute: settings.NOTIFY_MAX_PER_MINUTE,
          logger,
          registry,
        })
      : undefined;
  const audit = createAuditLog({
    actor: { kind: 'system', id: options.process },
    sinks: [
      logAuditSink(logger),
      createRedisAuditStore({
        redis: redis.client,
        maxLength: settings.AUDIT_STREAM_MAX_LENGTH,
        perRegistrationTtlSeconds: settings.AUDIT_REGISTRATION_RETENTION_S,
        ...(options.auditPartitions && { partitions: options.auditPartitions }),
      }).sink,
      ...(notifier ? [notifier.sink] : []),
    ],
    logger,
    registry,
    knownSecrets,
    ...(options.auditFlushDelayMs !== undefined && { flushDelayMs: options.auditFlushDelayMs }),
  });

  let closing: Promise<void> | undefined;
  return {
    logger,
    registry,
    knownSecrets,
    redis,
    outbound,
    notifier,
    audit,
    close() {
      closing ??= (async () => {
        await audit.close();
        await notifier?.close(2_000);
        await redis.close();
      })();
      return closing;
    },
  };
}
