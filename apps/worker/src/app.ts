import type { Logger } from '@callback-gateway/audit';
import { readiness, type ReadinessCheck } from '@callback-gateway/runtime';
import Fastify, { LogController } from 'fastify';
import type { Registry } from 'prom-client';

/** What the worker needs from the outside; `main.ts` wires the real ones. */
export interface WorkerDeps {
  logger: Logger;
  registry: Registry;
  /** Conditions `/readyz` reports (Redis reachable, ...). */
  readinessChecks: readonly ReadinessCheck[];
  /** When it returns a reason, `/healthz` fails (503) so an orchestrator restarts the process. */
  liveness?: () => true | string;
}

/** Builds the worker's health and metrics server without listening (tests use `inject()` or port 0). */
export async function buildApp(deps: WorkerDeps) {
  const app = Fastify({
    loggerInstance: deps.logger,
    // One line per request would drown the useful lines at callback rates.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: false,
  });

  app.get('/healthz', async (_request, reply) => {
    const alive = deps.liveness?.() ?? true;
    return alive === true
      ? { status: 'ok' }
      : reply.code(503).send({ status: 'dead', reason: alive });
  });

  app.get('/readyz', async (_request, reply) => {
    const report = readiness(deps.readinessChecks);
    return reply.code(report.ready ? 200 : 503).send(report);
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.type(deps.registry.contentType).send(await deps.registry.metrics());
  });

  return app;
}
