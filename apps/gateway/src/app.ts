import type { Logger } from '@callback-gateway/audit';
import { readiness, type ReadinessCheck } from '@callback-gateway/runtime';
import Fastify, { LogController } from 'fastify';
import type { Registry } from 'prom-client';

/** What the gateway needs from the outside; `main.ts` wires the real ones. */
export interface GatewayDeps {
  logger: Logger;
  registry: Registry;
  /** Conditions `/readyz` reports (Redis reachable, ...). */
  readinessChecks: readonly ReadinessCheck[];
}

/** Builds the gateway's HTTP app without listening (tests use `inject()` or port 0). */
export async function buildApp(deps: GatewayDeps) {
  const app = Fastify({
    loggerInstance: deps.logger,
    // One line per request would drown the useful lines at callback rates.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: false,
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const report = readiness(deps.readinessChecks);
    return reply.code(report.ready ? 200 : 503).send(report);
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.type(deps.registry.contentType).send(await deps.registry.metrics());
  });

  return app;
}
