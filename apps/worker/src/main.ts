import {
  createAuditLog,
  createLogger,
  createRedisAuditStore,
  logAuditSink,
} from '@callback-gateway/audit';
import {
  SettingsError,
  connectRedis,
  createMetricsRegistry,
  describeRedisUrl,
  handleShutdownSignals,
} from '@callback-gateway/runtime';
import { buildApp } from './app.js';
import { loadWorkerConfig, type WorkerConfig } from './config.js';

function loadConfigOrExit(): WorkerConfig {
  try {
    return loadWorkerConfig(process.env);
  } catch (error) {
    if (error instanceof SettingsError) {
      for (const problem of error.problems) console.error(`worker: invalid setting ${problem}`);
      console.error(
        'worker: not started. Every setting is described in the README ("Configuration").',
      );
      process.exit(2);
    }
    throw error;
  }
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({
    name: 'worker',
    level: config.LOG_LEVEL,
  });
  const registry = createMetricsRegistry({ process: 'worker' });

  // 1. Health first: /healthz answers even while Redis is away.
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
    ],
  });
  await app.listen({ host: config.WORKER_HOST, port: config.WORKER_PORT });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.WORKER_PORT;
  logger.info(
    { host: config.WORKER_HOST, port },
    `worker listening on http://${config.WORKER_HOST}:${port} (health /healthz, readiness /readyz, metrics /metrics)`,
  );

  // 2. The audit trail: structured log lines always, the Redis stream when Redis is there.
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
  const audit = createAuditLog({
    actor: { kind: 'system', id: 'worker' },
    sinks: [logAuditSink(logger), auditStore.sink],
    logger,
    registry,
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
      await app.close();
      await audit.close();
      await Promise.all([redis.close(), auditRedis.close()]);
    },
  });
}

main().catch((error: unknown) => {
  console.error(
    `worker: could not start: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
