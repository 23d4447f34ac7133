import {
  createAuditLog,
  createLogger,
  createRedisAuditStore,
  logAuditSink,
  type CreateLoggerOptions,
  type Logger,
} from '@callback-gateway/audit';
import {
  connectRedis,
  createMetricsRegistry,
  describeRedisUrl,
  startHeartbeat,
} from '@callback-gateway/runtime';
import {
  createWebhookUrlResolver,
  resolverOptionsFromEnv,
  sharedProbeKey,
  type WebhookUrlEnvDeps,
  type WebhookUrlResolver,
} from '@callback-gateway/webhook-url';
import { createOutboundPolicy } from '@callback-gateway/outbound';
import { GATEWAY_CONDITIONS, createNotifier } from '@callback-gateway/notify';
import {
  QUEUES,
  createDeliveryStore,
  createIntake,
  createRegistrationStore,
  createSubmissionStore,
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
 * Starts the gateway with validated settings: the HTTP server first (health answers even while
 * Redis is away), then Redis with backoff, the audit trail, and the public callback URL once
 * Redis is reachable. Resolves once it listens; signals are the caller's business.
 */
export async function startGateway(
  config: GatewayConfig,
  deps: StartGatewayDeps = {},
): Promise<StartedGateway> {
  const logger = createLogger({
    name: 'gateway',
    level: config.LOG_LEVEL,
    knownSecrets: [
      ...config.GATEWAY_API_TOKENS,
      config.NGROK_AUTHTOKEN,
      config.WEBHOOK_URL_PROBE_KEY,
      config.NOTIFY_WEBHOOK_SECRET,
      ...config.NOTIFY_SLACK_WEBHOOK_URLS,
    ],
    ...(deps.logDestination && { destination: deps.logDestination }),
  });
  const registry = createMetricsRegistry({ process: 'gateway' });

  // The probe key: configured, or shared through Redis once it is reachable (see stage 4).
  const probe: { key?: string | undefined } = { key: config.WEBHOOK_URL_PROBE_KEY };
  // Created once the listening port is known (ngrok forwards to it).
  const webhookUrlRef: { resolver?: WebhookUrlResolver } = {};

  // 1. Health first: /healthz answers even while Redis is away.
  logger.info('start 1/4: HTTP server (health, readiness, metrics)');
  // No auto-pipelining: the intake batches callbacks itself (group commit, one script call per
  // batch); wrapping every command in a pipeline of its own only costs.
  const redis = connectRedis({
    url: config.REDIS_URL,
    role: 'producer',
    name: 'gateway',
    logger,
  });
  const knownSecrets = [
    ...config.GATEWAY_API_TOKENS,
    config.NGROK_AUTHTOKEN,
    config.WEBHOOK_URL_PROBE_KEY,
    config.NOTIFY_WEBHOOK_SECRET,
    ...config.NOTIFY_SLACK_WEBHOOK_URLS,
  ];
  const outbound = createOutboundPolicy({ allow: config.OUTBOUND_ALLOW });
  // Operational notifications (public URL, tunnel) when a target is configured.
  const notifier =
    config.NOTIFY_WEBHOOK_URLS.length + config.NOTIFY_SLACK_WEBHOOK_URLS.length > 0
      ? createNotifier({
          source: 'gateway',
          webhookUrls: config.NOTIFY_WEBHOOK_URLS,
          webhookSecret: config.NOTIFY_WEBHOOK_SECRET,
          slackUrls: config.NOTIFY_SLACK_WEBHOOK_URLS,
          policy: outbound,
          conditions: GATEWAY_CONDITIONS,
          repeatAfterMs: config.NOTIFY_REPEAT_AFTER_S * 1_000,
          maxPerMinute: config.NOTIFY_MAX_PER_MINUTE,
          logger,
          registry,
        })
      : undefined;
  const audit = createAuditLog({
    actor: { kind: 'system', id: 'gateway' },
    sinks: [
      logAuditSink(logger),
      createRedisAuditStore({ redis: redis.client, maxLength: config.AUDIT_STREAM_MAX_LENGTH })
        .sink,
      ...(notifier ? [notifier.sink] : []),
    ],
    logger,
    registry,
    knownSecrets,
  });
  const keys = storeKeys();
  const parseQueue = new Queue<ParseSubmissionJob>(QUEUES.parseSubmissions, {
    connection: redis.client,
    prefix: `{${keys.prefix}}`,
  });
  parseQueue.on('error', () => undefined);
  const deliveryQueue = new Queue(QUEUES.deliveries, {
    connection: redis.client,
    prefix: `{${keys.prefix}}`,
  });
  deliveryQueue.on('error', () => undefined);
  const app = await buildApp({
    logger,
    registry,
    audit,
    settings: {
      bodyLimitBytes: config.GATEWAY_BODY_LIMIT_BYTES,
      registrationTtlSeconds: config.GATEWAY_REGISTRATION_TTL_S,
      expectCallbackWithinSeconds: config.GATEWAY_EXPECT_CALLBACK_WITHIN_S,
      uploadLimitBytes: config.GATEWAY_UPLOAD_LIMIT_BYTES,
    },
    apiTokens: config.GATEWAY_API_TOKENS,
    registrations: createRegistrationStore({ redis: redis.client, keys }),
    intake: createIntake({ redis: redis.client, keys, lingerMs: config.GATEWAY_INTAKE_LINGER_MS }),
    deliveries: createDeliveryStore({ redis: redis.client, keys }),
    keys,
    redis: redis.client,
    submissions: createSubmissionStore({ redis: redis.client, keys }),
    parseQueue,
    deliveryQueue,
    outbound,
    webhookUrl: () => webhookUrlRef.resolver,
    probeKey: () => probe.key,
    readinessChecks: [
      {
        name: 'redis',
        check: () =>
          redis.isReady() ||
          `Redis at ${describeRedisUrl(config.REDIS_URL)}: ${redis.problem() ?? 'not ready'}`,
      },
      {
        name: 'public_url',
        check: () => {
          const status = webhookUrlRef.resolver?.status();
          if (status?.current) return true;
          // The resolver starts once Redis answers (it reads the shared probe key first).
          if (!webhookUrlRef.resolver) {
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

  // 2. Redis: retried with backoff in the background (see connectRedis).
  logger.info('start 2/4: Redis connection (retried with backoff until reachable)');

  // 3. The audit trail: log lines always, the Redis stream as soon as Redis is there.
  logger.info(
    `start 3/4: audit trail (log lines and Redis stream${notifier ? '; operational notifications' : ''})`,
  );

  // 4. The public callback URL: never a localhost fallback. The resolver starts once Redis is
  // reachable: the probe key is shared with the worker through it, and the cache lives there.
  logger.info('start 4/4: public callback URL (as soon as Redis is reachable)');
  if (!config.PUBLIC_BASE_URL && !config.NGROK_AUTHTOKEN) {
    logger.warn(
      'No public callback URL source is configured: registrations are refused (503) until you set PUBLIC_BASE_URL=https://<public host of this gateway> or NGROK_AUTHTOKEN=<your ngrok authtoken>.',
    );
  }
  const stopping = new AbortController();
  const resolverStarted = (async () => {
    for (let attempt = 1; !stopping.signal.aborted; attempt++) {
      try {
        await redis.waitUntilReady(stopping.signal);
        probe.key = await sharedProbeKey(redis.client, config.WEBHOOK_URL_PROBE_KEY);
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 100 * 2 ** attempt)));
      }
    }
    if (stopping.signal.aborted || !probe.key) return;
    const resolver = createWebhookUrlResolver(
      resolverOptionsFromEnv(
        { ...config, GATEWAY_PORT: port, WEBHOOK_URL_PROBE_KEY: probe.key },
        { ...deps.webhookUrl, redis: redis.client, audit, logger, registry },
      ),
    );
    webhookUrlRef.resolver = resolver;
    // A tunnel back after a reconnect (often under a new URL): verify it now, so readiness, the
    // cached URL (the worker's reconciler compares pending registrations with it) and the
    // on-call notifications follow at once, not at the next registration.
    resolver.onStatusChange((state, previous) => {
      if (state !== 'up' || previous !== 'reconnecting') return;
      // A failure is logged and audited by the resolver; the next registration tries again.
      resolver.resolve({ purpose: 'tunnel-reconnected' }).catch(() => undefined);
    });
    if (!config.PUBLIC_BASE_URL && !config.NGROK_AUTHTOKEN) return;
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
  })();

  // Tells the worker's reconciler this gateway takes callbacks (a silence means senders may
  // have given up: it then reconciles pending registrations early).
  const heartbeat = startHeartbeat({ redis: redis.client, key: keys.gateways, logger });

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
        stopping.abort();
        heartbeat.close();
        await app.close();
        await resolverStarted;
        await webhookUrlRef.resolver?.close();
        await parseQueue.close();
        await deliveryQueue.close();
        await audit.close();
        await notifier?.close(2_000);
        await redis.close();
      })();
      return closing;
    },
  };
}
