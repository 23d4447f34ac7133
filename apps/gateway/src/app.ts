import type { Logger } from '@callback-gateway/audit';
import { readiness, type ReadinessCheck } from '@callback-gateway/runtime';
import { PROBE_PATH, answerProbe, type WebhookUrlStatus } from '@callback-gateway/webhook-url';
import Fastify, { LogController } from 'fastify';
import type { Registry } from 'prom-client';

/** What the gateway needs from the outside; `main.ts` wires the real ones. */
export interface GatewayDeps {
  logger: Logger;
  registry: Registry;
  /** Conditions `/readyz` reports; the one named `redis` alone decides `/readyz/ingest`. */
  readinessChecks: readonly ReadinessCheck[];
  /** Key of the probe round trip that proves a public URL reaches this gateway. */
  probeKey: string;
  /** The public URL resolver's state, once it exists. */
  webhookUrlStatus: () => WebhookUrlStatus | undefined;
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

  // For load balancers: can this instance store callbacks (Redis reachable), whatever the
  // public URL's state? Callbacks to URLs already issued must keep flowing while it recovers.
  app.get('/readyz/ingest', async (_request, reply) => {
    const report = readiness(deps.readinessChecks.filter((check) => check.name === 'redis'));
    return reply.code(report.ready ? 200 : 503).send(report);
  });

  app.get(PROBE_PATH, async (request, reply) => {
    const { nonce } = request.query as { nonce?: unknown };
    const answer = answerProbe(deps.probeKey, nonce);
    return reply.code(answer.status).header('cache-control', 'no-store').send(answer.body);
  });

  app.get('/v1/webhook-url', async () => {
    const status = deps.webhookUrlStatus();
    return {
      base_url: status?.current?.baseUrl ?? null,
      source: status?.current?.source ?? null,
      verified_by: status?.current?.verifiedBy ?? null,
      resolved_at: status?.current?.resolvedAt.toISOString() ?? null,
      insecure: status?.current?.insecure ?? false,
      tunnel: status?.tunnel ?? null,
      last_failure: status?.lastFailure
        ? {
            code: status.lastFailure.code,
            message: status.lastFailure.message,
            at: status.lastFailure.at.toISOString(),
          }
        : null,
    };
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.type(deps.registry.contentType).send(await deps.registry.metrics());
  });

  return app;
}
