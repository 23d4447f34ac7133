import type { CreateLoggerOptions, Logger } from '@callback-gateway/audit';
import {
  createQueueErrorReporter,
  redisReadiness,
  startProcessBasics,
  startPublicUrlResolver,
} from '@callback-gateway/bootstrap';
import { createLlamaCloudClient } from '@callback-gateway/llamacloud';
import { createGuardedAgent } from '@callback-gateway/outbound';
import { WORKER_CONDITIONS } from '@callback-gateway/notify';
import {
  connectRedis,
  exitOnSettingError,
  redisTargetOf,
  storePartitionsOf,
  startHeartbeat,
  type RedisSettingError,
  type SupervisedRedis,
} from '@callback-gateway/runtime';
import { auditPartitionsOf, storeKeys } from '@callback-gateway/store';
import {
  readCachedResolution,
  type UrlSourceName,
  type WebhookUrlEnvDeps,
  callbackPathReserveFor,
} from '@callback-gateway/webhook-url';
import { buildApp } from './app.js';
import { breakerOptions, workerPartitionsOf, type WorkerConfig } from './config.js';
import { startDeliveryService } from './delivery/service.js';
import { startReconciler } from './reconcile/service.js';
import { startSubmissionService } from './submission/service.js';

/**
 * What {@link startWorker} takes instead of its real defaults. `main.ts` passes none of them.
 */
export interface StartWorkerDeps {
  /** Where log lines go. @defaultValue stdout */
  logDestination?: CreateLoggerOptions['destination'];
  /**
   * The public URL resolver's outside world (the worker never opens a tunnel itself).
   * @defaultValue `dns.promises.lookup`, undici's global dispatcher
   */
  webhookUrl?: Pick<WebhookUrlEnvDeps, 'lookup' | 'dispatcher'>;
  /**
   * What to do when the Redis settings cannot work (a single-node client pointed at a node of
   * a Redis Cluster). Called once.
   * @defaultValue prints one line naming `REDIS_CLUSTER_NODES` and exits with code 2
   */
  onRedisSettingError?: (error: RedisSettingError) => void;
}

/** A worker consuming its queues, with its health server listening. */
export interface StartedWorker {
  /** `http://<WORKER_HOST>:<port>`: health, readiness and metrics. */
  url: string;
  /** The port it listens on (the one chosen when `WORKER_PORT` is 0). */
  port: number;
  logger: Logger;
  /**
   * Stops taking work, lets deliveries in flight finish (bounded by `SHUTDOWN_DEADLINE_MS`),
   * then closes the audit trail, notifications and Redis. Idempotent. Returns at once when
   * Redis is away: nothing is in flight then.
   */
  close(): Promise<void>;
}

/** The gateway's URL sources without the tunnel (the gateway owns it): its URL comes through
 * the cache. */
export function workerUrlSources(sources: readonly UrlSourceName[]): UrlSourceName[] {
  const own = sources.filter((source) => source !== 'ngrok');
  return sources.includes('ngrok') && !own.includes('cache') ? [...own, 'cache'] : own;
}

/**
 * Starts the worker with validated settings: the logger, the audit trail and its Redis
 * connections (reconnecting with backoff in the background), the health server (it answers
 * even while Redis is away), then the consumers: deliveries (ingest pump, delivery queue),
 * reconciliation of callbacks that never came, and parse submissions (once a verified public
 * callback URL exists). Resolves once it listens; signals are the caller's business.
 */
export async function startWorker(
  config: WorkerConfig,
  deps: StartWorkerDeps = {},
): Promise<StartedWorker> {
  let settingErrorTold = false;
  const onSettingError = (error: RedisSettingError) => {
    if (settingErrorTold) return;
    settingErrorTold = true;
    (deps.onRedisSettingError ?? exitOnSettingError('worker'))(error);
  };
  // Fail-fast commands (audit trail, reconciler, URL cache, probe key, heartbeat): they must
  // not wait in an offline queue. Its problems are told by the queue connection below.
  const keys = storeKeys('cbgw', { partitions: storePartitionsOf(config) });
  const basics = startProcessBasics({
    process: 'worker',
    settings: config,
    secrets: [config.LLAMA_CLOUD_API_KEY],
    auditPartitions: auditPartitionsOf(keys),
    conditions: WORKER_CONDITIONS,
    redisName: 'worker:commands',
    quietRedis: true,
    onRedisSettingError: onSettingError,
    // Three events per delivery: written in groups, not a write (and a round trip) each.
    auditFlushDelayMs: 20,
    ...(deps.logDestination && { logDestination: deps.logDestination }),
  });
  const { logger, registry, audit } = basics;
  const partitions = workerPartitionsOf(config);
  const consumer = (name: string, quiet: boolean): SupervisedRedis =>
    connectRedis({
      ...redisTargetOf(config),
      role: 'consumer',
      name,
      logger,
      quiet,
      onSettingError,
    });
  // The queues' connection waits for Redis (BullMQ workers must), and tells the operator.
  const queueRedis = consumer('worker', false);
  // A connection per partition's pump: each blocks on its own stream.
  const pumpRedis = partitions.map((partition) =>
    consumer(partitions.length === 1 ? 'worker:pump' : `worker:pump:${partition}`, true),
  );
  const storeRedis = consumer('worker:store', true);
  const watchQueue = createQueueErrorReporter({
    logger,
    registry,
    redisReady: queueRedis.isReady,
  });
  const parts: {
    submissions?: ReturnType<typeof startSubmissionService>;
    heartbeat?: ReturnType<typeof startHeartbeat>;
  } = {};

  // Health first: /healthz answers even while Redis is away.
  const app = await buildApp({
    logger,
    registry,
    readinessChecks: [
      redisReadiness(queueRedis),
      {
        name: 'parse_submissions',
        check: () => {
          const waiting = parts.submissions?.waitingForUrl();
          return waiting ? `parse submissions wait for a public callback URL: ${waiting}` : true;
        },
      },
      {
        name: 'heartbeat',
        check: () => {
          const status = parts.heartbeat?.status();
          return !status || status.state === 'ok'
            ? true
            : `${status.state}: no successful heartbeat for ${Math.round(status.lastBeatAgeMs / 1000)} s`;
        },
      },
    ],
    liveness: () => {
      const status = parts.heartbeat?.status();
      return status?.state === 'dead'
        ? `no successful heartbeat for ${Math.round(status.lastBeatAgeMs / 1000)} s`
        : true;
    },
  });
  await app.listen({ host: config.WORKER_HOST, port: config.WORKER_PORT });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.WORKER_PORT;
  logger.info(
    { host: config.WORKER_HOST, port },
    `worker listening on http://${config.WORKER_HOST}:${port} (health /healthz, readiness /readyz, metrics /metrics)`,
  );

  logger.info('deliveries: ingest pump, delivery queue (retries, circuit breakers, dead letters)');
  const deliveries = startDeliveryService({
    connection: queueRedis.client,
    partitions,
    pumpRedis: pumpRedis.map((each) => each.client),
    storeRedis: storeRedis.client,
    keys,
    recordTtlSeconds: config.STORE_CALLBACK_RETENTION_S,
    jobRetentionSeconds: config.STORE_JOB_RETENTION_S,
    auditRetentionSeconds: config.AUDIT_REGISTRATION_RETENTION_S,
    policy: basics.outbound,
    retry: {
      scheduleSeconds: config.DELIVERY_RETRY_SCHEDULE,
      maxClientErrorAttempts: config.DELIVERY_MAX_CLIENT_ERROR_ATTEMPTS,
    },
    timeouts: {
      connectMs: config.DELIVERY_CONNECT_TIMEOUT_MS,
      headersMs: config.DELIVERY_HEADERS_TIMEOUT_MS,
      totalMs: config.DELIVERY_TIMEOUT_MS,
    },
    breaker: breakerOptions(config),
    maxInFlightPerOrigin: config.DELIVERY_MAX_IN_FLIGHT_PER_ORIGIN,
    concurrency: config.WORKER_CONCURRENCY,
    ...(config.DELIVERY_LOCK_DURATION_MS > 0 && {
      lockDurationMs: config.DELIVERY_LOCK_DURATION_MS,
    }),
    watchQueue,
    audit,
    logger,
    registry,
  });

  // LlamaCloud is called under the same outbound policy as the pipelines: its base URL at a
  // private address (a proxy, a fake) needs OUTBOUND_ALLOW like any other.
  const llamaCloudAgent = config.LLAMA_CLOUD_API_KEY
    ? createGuardedAgent(basics.outbound, {
        connect: { timeout: config.DELIVERY_CONNECT_TIMEOUT_MS },
      })
    : undefined;
  const llamaCloud = config.LLAMA_CLOUD_API_KEY
    ? createLlamaCloudClient({
        baseUrl: config.LLAMA_CLOUD_BASE_URL,
        apiKey: config.LLAMA_CLOUD_API_KEY,
        dispatcher: llamaCloudAgent,
      })
    : undefined;
  logger.info(
    `reconciliation: overdue callbacks are marked${llamaCloud ? ' and recovered from LlamaCloud' : ' (set LLAMA_CLOUD_API_KEY to recover them from the parser)'}`,
  );
  const reconciler = startReconciler({
    redis: basics.redis.client,
    keys,
    retention: {
      callbackSeconds: config.STORE_CALLBACK_RETENTION_S,
      dedupSeconds: config.STORE_DEDUP_RETENTION_S,
    },
    llamaCloud,
    // The URL the gateway last verified (it owns the tunnel and writes the cache): the worker's
    // own resolver only learns a new URL when it next submits a document.
    currentBaseUrl: async () => (await readCachedResolution(basics.redis.client))?.baseUrl,
    audit,
    logger,
    registry,
    intervalMs: config.RECONCILE_INTERVAL_MS,
    firstPollDelayMs: config.RECONCILE_FIRST_POLL_DELAY_MS,
    maxPollDelayMs: config.RECONCILE_MAX_POLL_DELAY_MS,
    gatewaySilenceMs: config.RECONCILE_GATEWAY_SILENCE_MS,
  });

  // Parse submissions: a verified public callback URL or nothing. The worker never opens a
  // tunnel (the gateway owns it); it finds the gateway's tunnel URL through the Redis cache,
  // verified with the probe key they share there.
  if (config.PUBLIC_BASE_URL || config.NGROK_AUTHTOKEN) {
    logger.info('parse submissions: waiting for a verified public callback URL');
  } else {
    logger.warn(
      'No public callback URL source is configured: parse submissions will wait (never sent with a localhost URL) until you set PUBLIC_BASE_URL=https://<public host of the gateway> or NGROK_AUTHTOKEN=<your ngrok authtoken>.',
    );
  }
  const publicUrl = startPublicUrlResolver({
    settings: { ...config, WEBHOOK_URL_SOURCES: workerUrlSources(config.WEBHOOK_URL_SOURCES) },
    redis: basics.redis,
    audit,
    logger,
    registry,
    // Tokens of partitions past the first are longer: the URL policy keeps room for them.
    deps: { ...deps.webhookUrl, callbackPathReserve: callbackPathReserveFor(keys.partitions) },
  });
  parts.submissions = startSubmissionService({
    connection: queueRedis.client,
    storeRedis: storeRedis.client,
    keys,
    webhookUrl: () => publicUrl.current(),
    llamaCloud,
    registrationTtlSeconds: config.GATEWAY_REGISTRATION_TTL_S,
    expectCallbackWithinSeconds: config.GATEWAY_EXPECT_CALLBACK_WITHIN_S,
    parseDefaults: {
      tier: config.LLAMA_CLOUD_PARSE_TIER,
      version: config.LLAMA_CLOUD_PARSE_VERSION,
    },
    watchQueue,
    audit,
    logger,
    registry,
  });

  parts.heartbeat = startHeartbeat({
    redis: basics.redis.client,
    key: keys.workers,
    logger,
    intervalMs: config.WORKER_HEARTBEAT_INTERVAL_MS,
    degradedAfterMs: config.WORKER_HEARTBEAT_DEGRADED_MS,
    deadAfterMs: config.WORKER_HEARTBEAT_DEAD_MS,
  });

  let closing: Promise<void> | undefined;
  return {
    url: `http://${config.WORKER_HOST}:${port}`,
    port,
    logger,
    close() {
      closing ??= (async () => {
        parts.heartbeat?.close();
        await parts.submissions?.close();
        await reconciler.close();
        await publicUrl.close();
        await deliveries.close(config.SHUTDOWN_DEADLINE_MS - 1_000);
        await app.close();
        await basics.close();
        await llamaCloudAgent?.close().catch(() => undefined);
        await Promise.all([
          queueRedis.close(),
          ...pumpRedis.map((each) => each.close()),
          storeRedis.close(),
        ]);
      })();
      return closing;
    },
  };
}
