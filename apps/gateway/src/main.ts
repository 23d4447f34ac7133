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
import { loadGatewayConfig, type GatewayConfig } from './config.js';

function loadConfigOrExit(): GatewayConfig {
  try {
    return loadGatewayConfig(process.env);
  } catch (error) {
    if (error instanceof SettingsError) {
      for (const problem of error.problems) console.error(`gateway: invalid setting ${problem}`);
      console.error(
        'gateway: not started. Every setting is described in the README ("Configuration").',
      );
      process.exit(2);
    }
    throw error;
  }
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({
    name: 'gateway',
    level: config.LOG_LEVEL,
    knownSecrets: [...config.GATEWAY_API_TOKENS],
  });
  const registry = createMetricsRegistry({ process: 'gateway' });

  // 1. Health first: /healthz answers even while Redis is away.
  const redis = connectRedis({ url: config.REDIS_URL, role: 'producer', name: 'gateway', logger });
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
  await app.listen({ host: config.GATEWAY_HOST, port: config.GATEWAY_PORT });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.GATEWAY_PORT;
  logger.info(
    { host: config.GATEWAY_HOST, port },
    `gateway listening on http://${config.GATEWAY_HOST}:${port} (health /healthz, readiness /readyz, metrics /metrics)`,
  );

  // 2. The audit trail: structured log lines always, the Redis stream when Redis is there.
  const auditStore = createRedisAuditStore({
    redis: redis.client,
    maxLength: config.AUDIT_STREAM_MAX_LENGTH,
  });
  const audit = createAuditLog({
    actor: { kind: 'system', id: 'gateway' },
    sinks: [logAuditSink(logger), auditStore.sink],
    logger,
    registry,
    knownSecrets: [...config.GATEWAY_API_TOKENS],
  });

  if (config.GATEWAY_API_TOKENS.length === 0) {
    logger.warn(
      'GATEWAY_API_TOKENS is empty: every registration request will be refused with 401. Set it to one or more comma-separated tokens of 16+ characters.',
    );
  }

  handleShutdownSignals({
    logger,
    deadlineMs: config.SHUTDOWN_DEADLINE_MS,
    close: async () => {
      await app.close();
      await audit.close();
      await redis.close();
    },
  });
}

main().catch((error: unknown) => {
  console.error(
    `gateway: could not start: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
