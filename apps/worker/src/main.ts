import {
  createAuditLog,
  createLogger,
  createRedisAuditStore,
  logAuditSink,
} from '@callback-gateway/audit';
import {
  connectRedis,
  createMetricsRegistry,
  describeRedisUrl,
  handleShutdownSignals,
  loadSettingsOrExit,
  startHeartbeat,
  type Heartbeat,
} from '@callback-gateway/runtime';
import { createOutboundPolicy } from '@callback-gateway/outbound';
import { WORKER_CONDITIONS, createNotifier } from '@callback-gateway/notify';
import { storeKeys } from '@callback-gateway/store';
import { buildApp } from './app.js';
import { startDeliveryService } from './delivery/service.js';
import { startReconciler, type Reconciler } from './reconcile/service.js';
import { startSubmissionService } from './submission/service.js';
import { createLlamaCloudClient } from '@callback-gateway/llamacloud';
import {
  createWebhookUrlResolver,
  readCachedResolution,
  resolverOptionsFromEnv,
  sharedProbeKey,
  type UrlSourceName,
  type WebhookUrlResolver,
} from '@callback-gateway/webhook-url';
import { breakerOptions, loadWorkerConfig } from './config.js';

/** The gateway's sources without the tunnel (the gateway owns it): its URL comes through the cache. */
function workerUrlSources(sources: readonly UrlSourceName[]): UrlSourceName[] {
  const own = sources.filter((source) => source !== 'ngrok');
  return sources.includes('ngrok') && !own.includes('cache') ? [...own, 'cache'] : own;
}

async function main(): Promise<void> {
  const config = loadSettingsOrExit('worker', () => loadWorkerConfig(process.env));
  const knownSecrets = [
    config.LLAMA_CLOUD_API_KEY,
    config.NGROK_AUTHTOKEN,
    config.WEBHOOK_URL_PROBE_KEY,
    config.NOTIFY_WEBHOOK_SECRET,
    ...config.NOTIFY_SLACK_WEBHOOK_URLS,
  ];
  const logger = createLogger({
    name: 'worker',
    level: config.LOG_LEVEL,
    knownSecrets,
  });
  const registry = createMetricsRegistry({ process: 'worker' });

  const heartbeatRef: { current?: Heartbeat } = {};
  const submissionsRef: { current?: ReturnType<typeof startSubmissionService> } = {};
  const webhookUrlRef: { resolver?: WebhookUrlResolver } = {};
  const reconcilerRef: { current?: Reconciler } = {};

  // 1. Health first: /healthz answers even while Redis is away.
  logger.info('start 1/3: HTTP server (health, readiness, metrics)');
  const redis = connectRedis({ url: config.REDIS_URL, role: 'consumer', name: 'worker', logger });
  const app = await buildApp({
    logger,
    registry,
    readinessChecks: [
      {
        name: 'redis',
        check: () =>
          redis.isReady() ||
          `Redis at ${describeRedisUrl(config.REDIS_URL)}: ${redis.problem() ?? 'not ready'}`,
      },
      {
        name: 'parse_submissions',
        check: () => {
          const waiting = submissionsRef.current?.waitingForUrl();
          return waiting ? `parse submissions wait for a public callback URL: ${waiting}` : true;
        },
      },
      {
        name: 'heartbeat',
        check: () => {
          const status = heartbeatRef.current?.status();
          return !status || status.state === 'ok'
            ? true
            : `${status.state}: no successful heartbeat for ${Math.round(status.lastBeatAgeMs / 1000)} s`;
        },
      },
    ],
    liveness: () => {
      const status = heartbeatRef.current?.status();
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

  // 2. The audit trail: structured log lines always, the Redis stream when Redis is there.
  logger.info(
    'start 2/3: Redis connections (retried with backoff until reachable) and audit trail',
  );
  // Audit writes must fail fast, not wait in the consumer connection's offline queue.
  const auditRedis = connectRedis({
    url: config.REDIS_URL,
    role: 'producer',
    name: 'worker:audit',
    logger,
    quiet: true,
  });
  const auditStore = createRedisAuditStore({
    redis: auditRedis.client,
    maxLength: config.AUDIT_STREAM_MAX_LENGTH,
  });
  const outbound = createOutboundPolicy({ allow: config.OUTBOUND_ALLOW });
  // Operational notifications (dead letters, failing pipelines, overdue callbacks) when a
  // target is configured.
  const notifier =
    config.NOTIFY_WEBHOOK_URLS.length + config.NOTIFY_SLACK_WEBHOOK_URLS.length > 0
      ? createNotifier({
          source: 'worker',
          webhookUrls: config.NOTIFY_WEBHOOK_URLS,
          webhookSecret: config.NOTIFY_WEBHOOK_SECRET,
          slackUrls: config.NOTIFY_SLACK_WEBHOOK_URLS,
          policy: outbound,
          conditions: WORKER_CONDITIONS,
          repeatAfterMs: config.NOTIFY_REPEAT_AFTER_S * 1_000,
          maxPerMinute: config.NOTIFY_MAX_PER_MINUTE,
          logger,
          registry,
        })
      : undefined;
  const audit = createAuditLog({
    actor: { kind: 'system', id: 'worker' },
    sinks: [logAuditSink(logger), auditStore.sink, ...(notifier ? [notifier.sink] : [])],
    logger,
    registry,
    knownSecrets,
    // Three events per delivery: written in groups, not a write (and a round trip) each.
    flushDelayMs: 20,
  });

  // 3. Deliveries: the ingest pump, the delivery queue and its worker.
  logger.info('start 3/3: delivery queue (pump, retries, circuit breakers, dead letters)');
  const quietConsumer = (name: string) =>
    connectRedis({ url: config.REDIS_URL, role: 'consumer', name, logger, quiet: true });
  const pumpRedis = quietConsumer('worker:pump');
  const storeRedis = quietConsumer('worker:store');
  const deliveries = startDeliveryService({
    connection: redis.client,
    pumpRedis: pumpRedis.client,
    storeRedis: storeRedis.client,
    keys: storeKeys(),
    policy: outbound,
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
    concurrency: config.WORKER_CONCURRENCY,
    ...(config.DELIVERY_LOCK_DURATION_MS > 0 && {
      lockDurationMs: config.DELIVERY_LOCK_DURATION_MS,
    }),
    audit,
    logger,
    registry,
  });

  const llamaCloud = config.LLAMA_CLOUD_API_KEY
    ? createLlamaCloudClient({
        baseUrl: config.LLAMA_CLOUD_BASE_URL,
        apiKey: config.LLAMA_CLOUD_API_KEY,
      })
    : undefined;

  // Expected callbacks: overdue ones are marked, and recovered from the parser when possible.
  reconcilerRef.current = startReconciler({
    redis: auditRedis.client,
    keys: storeKeys(),
    llamaCloud,
    // The URL the gateway last verified (it owns the tunnel and writes the cache): the worker's
    // own resolver only learns a new URL when it next submits a document.
    currentBaseUrl: async () => (await readCachedResolution(auditRedis.client))?.baseUrl,
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
  submissionsRef.current = startSubmissionService({
    connection: redis.client,
    storeRedis: storeRedis.client,
    keys: storeKeys(),
    webhookUrl: () => webhookUrlRef.resolver,
    llamaCloud: config.LLAMA_CLOUD_API_KEY
      ? createLlamaCloudClient({
          baseUrl: config.LLAMA_CLOUD_BASE_URL,
          apiKey: config.LLAMA_CLOUD_API_KEY,
        })
      : undefined,
    registrationTtlSeconds: config.GATEWAY_REGISTRATION_TTL_S,
    expectCallbackWithinSeconds: config.GATEWAY_EXPECT_CALLBACK_WITHIN_S,
    audit,
    logger,
    registry,
  });
  const stopping = new AbortController();
  const resolverStarted = (async () => {
    let probeKey: string | undefined;
    for (let attempt = 1; !stopping.signal.aborted && !probeKey; attempt++) {
      try {
        await auditRedis.waitUntilReady(stopping.signal);
        probeKey = await sharedProbeKey(auditRedis.client, config.WEBHOOK_URL_PROBE_KEY);
      } catch {
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** attempt)));
      }
    }
    if (!probeKey || stopping.signal.aborted) return;
    webhookUrlRef.resolver = createWebhookUrlResolver(
      resolverOptionsFromEnv(
        {
          ...config,
          WEBHOOK_URL_SOURCES: workerUrlSources(config.WEBHOOK_URL_SOURCES),
          WEBHOOK_URL_PROBE_KEY: probeKey,
        },
        { redis: auditRedis.client, audit, logger, registry },
      ),
    );
  })();

  heartbeatRef.current = startHeartbeat({
    redis: auditRedis.client,
    key: storeKeys().workers,
    logger,
    intervalMs: config.WORKER_HEARTBEAT_INTERVAL_MS,
    degradedAfterMs: config.WORKER_HEARTBEAT_DEGRADED_MS,
    deadAfterMs: config.WORKER_HEARTBEAT_DEAD_MS,
  });

  if (!config.PUBLIC_BASE_URL && !config.NGROK_AUTHTOKEN) {
    logger.warn(
      'No public callback URL source is configured: parse submissions will wait (never sent with a localhost URL) until you set PUBLIC_BASE_URL=https://<public host of the gateway> or NGROK_AUTHTOKEN=<your ngrok authtoken>.',
    );
  }

  handleShutdownSignals({
    logger,
    deadlineMs: config.SHUTDOWN_DEADLINE_MS,
    close: async () => {
      heartbeatRef.current?.close();
      stopping.abort();
      await resolverStarted;
      await submissionsRef.current?.close();
      await reconcilerRef.current?.close();
      await webhookUrlRef.resolver?.close();
      await deliveries.close(config.SHUTDOWN_DEADLINE_MS - 1_000);
      await app.close();
      await audit.close();
      await notifier?.close(2_000);
      await Promise.all([redis.close(), auditRedis.close(), pumpRedis.close(), storeRedis.close()]);
    },
  });
}

main().catch((error: unknown) => {
  console.error(
    `worker: could not start: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
