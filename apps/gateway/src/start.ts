import type { CreateLoggerOptions, Logger } from '@callback-gateway/audit';
import {
  createQueueErrorReporter,
  redisReadiness,
  startProcessBasics,
  startPublicUrlResolver,
} from '@callback-gateway/bootstrap';
import { GATEWAY_CONDITIONS } from '@callback-gateway/notify';
import {
  exitOnSettingError,
  registerRedisMemoryMetrics,
  startHeartbeat,
  storePartitionsOf,
  type RedisSettingError,
} from '@callback-gateway/runtime';
import { callbackPathReserveFor, type WebhookUrlEnvDeps } from '@callback-gateway/webhook-url';
import {
  QUEUES,
  createDeliveryStore,
  createIntake,
  createRegistrationStore,
  createSubmissionStore,
  auditPartitionsOf,
  storeKeys,
  type ParseSubmissionJob,
} from '@callback-gateway/store';
import { Queue } from 'bullmq';
import { buildApp } from './app.js';
import type { GatewayConfig } from './config.js';

/**
 * What {@link startGateway} takes instead of its real defaults: the outside world of the public
 * URL resolver (the ngrok SDK's `forward`, DNS, the HTTP dispatcher of probes) and where log lines
 * go. `main.ts` passes none of them.
 */
export interface StartGatewayDeps {
  /** Where log lines go. @defaultValue stdout */
  logDestination?: CreateLoggerOptions['destination'];
  /**
   * The resolver's outside world.
   * @defaultValue the real ngrok SDK (loaded on first use), `dns.promises.lookup`, undici's
   * global dispatcher
   */
  webhookUrl?: Pick<WebhookUrlEnvDeps, 'ngrok' | 'lookup' | 'dispatcher'>;
  /**
   * What to do when the Redis settings cannot work (a single-node client pointed at a node of
   * a Redis Cluster).
   * @defaultValue prints one line naming `REDIS_CLUSTER_NODES` and exits with code 2
   */
  onRedisSettingError?: (error: RedisSettingError) => void;
}

/** A gateway listening for requests. */
export interface StartedGateway {
  /** `http://<GATEWAY_HOST>:<port>` */
  url: string;
  /** The port it listens on (the one chosen when `GATEWAY_PORT` is 0). */
  port: number;
  logger: Logger;
  /**
   * Stops intake, then closes the tunnel, the queues, the audit trail, notifications and Redis.
   * Idempotent. `main.ts` bounds it with `SHUTDOWN_DEADLINE_MS`.
   */
  close(): Promise<void>;
}

/**
 * Starts the gateway with validated settings: the logger, the audit trail and a Redis
 * connection that reconnects with backoff in the background, then the HTTP server (health
 * answers even while Redis is away), then the public callback URL once Redis is reachable.
 * Resolves once it listens; signals are the caller's business.
 */
export async function startGateway(
  config: GatewayConfig,
  deps: StartGatewayDeps = {},
): Promise<StartedGateway> {
  const keys = storeKeys('cbgw', { partitions: storePartitionsOf(config) });
  // One fail-fast connection serves everything: HTTP handlers answer 503 at once while Redis
  // is away instead of waiting. No auto-pipelining: the intake batches callbacks itself (group
  // commit, one script call per batch).
  const basics = startProcessBasics({
    process: 'gateway',
    settings: config,
    secrets: config.GATEWAY_API_TOKENS,
    auditPartitions: auditPartitionsOf(keys),
    conditions: GATEWAY_CONDITIONS,
    onRedisSettingError: deps.onRedisSettingError ?? exitOnSettingError('gateway'),
    ...(deps.logDestination && { logDestination: deps.logDestination }),
  });
  const { logger, registry, audit, redis } = basics;
  // Redis's memory headroom, for its alert (the gateway alone: one series per Redis node).
  registerRedisMemoryMetrics(registry, redis.client);
  const watchQueue = createQueueErrorReporter({ logger, registry, redisReady: redis.isReady });
  const parseQueue = new Queue<ParseSubmissionJob>(QUEUES.parseSubmissions, {
    connection: redis.client,
    prefix: keys.tag,
    // Done jobs for bull-board's sake; failed ones (after 1,000 runs) as long as the submission.
    defaultJobOptions: {
      removeOnComplete: { age: config.STORE_JOB_RETENTION_S },
      removeOnFail: { age: config.STORE_SUBMISSION_RETENTION_S },
    },
  });
  watchQueue(QUEUES.parseSubmissions, parseQueue);
  // Each partition's delivery queue, read only (the dashboard, bull-board).
  const deliveryQueues = keys.all.map((own) => {
    const queue = new Queue(QUEUES.deliveries, { connection: redis.client, prefix: own.tag });
    watchQueue(QUEUES.deliveries, queue);
    return queue;
  });
  // Created once the listening port is known (ngrok forwards to it) and Redis answers.
  const publicUrl: { resolver?: ReturnType<typeof startPublicUrlResolver> } = {};
  // Local-only mode: the loopback base URL, known once the port is.
  const local: { baseUrl?: string } = {};

  // Health first: /healthz answers even while Redis is away.
  const app = await buildApp({
    logger,
    registry,
    audit,
    settings: {
      bodyLimitBytes: config.GATEWAY_BODY_LIMIT_BYTES,
      callbackInflightBytes: config.GATEWAY_CALLBACK_INFLIGHT_BYTES,
      registrationTtlSeconds: config.GATEWAY_REGISTRATION_TTL_S,
      expectCallbackWithinSeconds: config.GATEWAY_EXPECT_CALLBACK_WITHIN_S,
      uploadLimitBytes: config.GATEWAY_UPLOAD_LIMIT_BYTES,
    },
    apiTokens: config.GATEWAY_API_TOKENS,
    trustedProxies: config.GATEWAY_TRUSTED_PROXIES,
    registrations: createRegistrationStore({ redis: redis.client, keys }),
    intake: createIntake({
      redis: redis.client,
      keys,
      lingerMs: config.GATEWAY_INTAKE_LINGER_MS,
      callbackTtlSeconds: config.STORE_CALLBACK_RETENTION_S,
      dedupTtlSeconds: config.STORE_DEDUP_RETENTION_S,
      ackReplicas: config.GATEWAY_ACK_REPLICAS,
      ackReplicasTimeoutMs: config.GATEWAY_ACK_REPLICAS_TIMEOUT_MS,
    }),
    deliveries: createDeliveryStore({ redis: redis.client, keys }),
    keys,
    redis: redis.client,
    submissions: createSubmissionStore({
      redis: redis.client,
      keys,
      ttlSeconds: config.STORE_SUBMISSION_RETENTION_S,
    }),
    parseQueue,
    deliveryQueues,
    outbound: basics.outbound,
    webhookUrl: () => publicUrl.resolver?.current(),
    probeKey: () => publicUrl.resolver?.probeKey() ?? config.WEBHOOK_URL_PROBE_KEY,
    localOnlyBaseUrl: () => local.baseUrl,
    readinessChecks: [
      redisReadiness(redis),
      {
        name: 'public_url',
        check: () => {
          const resolver = publicUrl.resolver?.current();
          const status = resolver?.status();
          if (status?.current) return true;
          if (local.baseUrl) {
            return 'local-only mode (GATEWAY_LOCAL_ONLY): no public callback URL, callbacks only from this machine';
          }
          // The resolver starts once Redis answers (it reads the shared probe key first).
          if (!resolver) {
            return redis.isReady()
              ? 'no verified public callback URL yet (its resolver is starting)'
              : 'no verified public callback URL yet (waiting for Redis)';
          }
          return status?.lastFailure
            ? `no verified public callback URL: ${status.lastFailure.message}`
            : 'no verified public callback URL yet';
        },
      },
    ],
  });
  await app.listen({ host: config.GATEWAY_HOST, port: config.GATEWAY_PORT });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.GATEWAY_PORT;
  logger.info(
    { host: config.GATEWAY_HOST, port },
    `gateway listening on http://${config.GATEWAY_HOST}:${port} (health /healthz, readiness /readyz, metrics /metrics)`,
  );

  // The public callback URL: never a localhost fallback.
  const urlConfigured = Boolean(config.PUBLIC_BASE_URL || config.NGROK_AUTHTOKEN);
  if (config.GATEWAY_LOCAL_ONLY) {
    const host = ['0.0.0.0', '::'].includes(config.GATEWAY_HOST)
      ? '127.0.0.1'
      : config.GATEWAY_HOST;
    local.baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    logger.warn(
      { localOnly: true, baseUrl: local.baseUrl },
      `LOCAL-ONLY MODE (GATEWAY_LOCAL_ONLY=true): registrations are issued for trying the API on this machine only, with callback_url null and a local_callback_url under ${local.baseUrl}; no parser can call back and POST /v1/parse is refused. Never use this mode with real parsers.`,
    );
  } else if (urlConfigured) {
    logger.info('public callback URL: resolving and verifying as soon as Redis is reachable');
  } else {
    logger.warn(
      'No public callback URL source is configured: registrations are refused (503) until you set PUBLIC_BASE_URL=https://<public host of this gateway> or NGROK_AUTHTOKEN=<your ngrok authtoken>.',
    );
  }
  publicUrl.resolver = startPublicUrlResolver({
    settings: { ...config, GATEWAY_PORT: port },
    redis,
    audit,
    logger,
    registry,
    // Tokens of partitions past the first are longer: the URL policy keeps room for them.
    deps: { ...deps.webhookUrl, callbackPathReserve: callbackPathReserveFor(keys.partitions) },
    async onCreated(resolver) {
      // A tunnel back after a reconnect (often under a new URL): verify it now, so readiness,
      // the cached URL (the worker's reconciler compares pending registrations with it) and the
      // on-call notifications follow at once, not at the next registration.
      resolver.onStatusChange((state, previous) => {
        if (state !== 'up' || previous !== 'reconnecting') return;
        // A failure is logged and audited by the resolver; the next registration tries again.
        resolver.resolve({ purpose: 'tunnel-reconnected' }).catch(() => undefined);
      });
      if (!urlConfigured) return;
      try {
        const resolution = await resolver.resolve({ purpose: 'start-up' });
        logger.info(
          {
            baseUrl: resolution.baseUrl,
            source: resolution.source,
            verifiedBy: resolution.verifiedBy,
          },
          `public callback URL: ${resolution.baseUrl} (from ${resolution.source}, verified by ${resolution.verifiedBy})`,
        );
      } catch (error) {
        logger.warn(
          { err: error },
          `no public callback URL yet: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    },
  });

  // Tells the worker's reconciler this gateway takes callbacks (a silence means senders may
  // have given up: it then reconciles pending registrations early).
  const heartbeat = startHeartbeat({ redis: redis.client, key: keys.gateways, logger });

  if (config.GATEWAY_TRUSTED_PROXIES.length > 0) {
    logger.info(
      { trustedProxies: config.GATEWAY_TRUSTED_PROXIES },
      `trusting X-Forwarded-For, -Proto and -Host from ${config.GATEWAY_TRUSTED_PROXIES.join(', ')} (GATEWAY_TRUSTED_PROXIES): clients are told apart behind them`,
    );
  }
  if (config.GATEWAY_API_TOKENS.length === 0) {
    logger.warn(
      'GATEWAY_API_TOKENS is empty: every registration request will be refused with 401. Set it to one or more comma-separated tokens of 16+ characters.',
    );
  }

  let closing: Promise<void> | undefined;
  return {
    url: `http://${config.GATEWAY_HOST}:${port}`,
    port,
    logger,
    close() {
      closing ??= (async () => {
        heartbeat.close();
        await app.close();
        await publicUrl.resolver?.close();
        await parseQueue.close();
        await Promise.all(deliveryQueues.map((queue) => queue.close()));
        await basics.close();
      })();
      return closing;
    },
  };
}
