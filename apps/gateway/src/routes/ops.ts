import { readiness } from '@callback-gateway/runtime';
import { PROBE_PATH, answerProbe } from '@callback-gateway/webhook-url';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { GatewayContext } from '../context.js';
import { apiErrorBody } from '../errors.js';

const webhookUrlView = z.object({
  base_url: z.string().nullable().describe('The verified public base URL; null when there is none'),
  source: z.string().nullable(),
  verified_by: z.string().nullable(),
  resolved_at: z.string().nullable(),
  insecure: z.boolean(),
  tunnel: z.string().nullable().describe('The ngrok tunnel state when that source is in use'),
  local_only: z.boolean().describe('True in local-only mode (GATEWAY_LOCAL_ONLY)'),
  last_failure: z.object({ code: z.string(), message: z.string(), at: z.string() }).nullable(),
});

/** Health, readiness, metrics, the probe endpoint and the public URL's state. */
export async function opsRoutes(app: FastifyInstance, context: GatewayContext) {
  const hidden = { schema: { hide: true } };

  app.get('/healthz', hidden, async () => ({ status: 'ok' }));

  app.get('/readyz', hidden, async (_request, reply) => {
    const report = readiness(context.readinessChecks);
    return reply.code(report.ready ? 200 : 503).send(report);
  });

  // For load balancers: can this instance store callbacks (Redis reachable), whatever the
  // public URL's state? Callbacks to URLs already issued must keep flowing while it recovers.
  app.get('/readyz/ingest', hidden, async (_request, reply) => {
    const report = readiness(context.readinessChecks.filter((check) => check.name === 'redis'));
    return reply.code(report.ready ? 200 : 503).send(report);
  });

  app.get('/metrics', hidden, async (_request, reply) =>
    reply.type(context.registry.contentType).send(await context.registry.metrics()),
  );

  app.get(PROBE_PATH, hidden, async (request, reply) => {
    const { nonce } = request.query as { nonce?: unknown };
    const key = context.probeKey();
    if (!key) {
      return reply.code(503).send({
        error: 'webhook_url_unavailable',
        message:
          'the probe key is not loaded yet (it is shared through Redis, which is unreachable)',
      });
    }
    const answer = answerProbe(key, nonce);
    return reply.code(answer.status).header('cache-control', 'no-store').send(answer.body);
  });

  app.get(
    '/v1/webhook-url',
    {
      schema: {
        operationId: 'getWebhookUrl',
        summary: 'The current public callback base URL and tunnel state',
        security: [],
        response: { 200: webhookUrlView, '4xx': apiErrorBody },
      },
    },
    async () => {
      const status = context.webhookUrl()?.status();
      return {
        base_url: status?.current?.baseUrl ?? null,
        source: status?.current?.source ?? null,
        verified_by: status?.current?.verifiedBy ?? null,
        resolved_at: status?.current?.resolvedAt.toISOString() ?? null,
        insecure: status?.current?.insecure ?? false,
        tunnel: status?.tunnel ?? null,
        local_only: context.localOnlyBaseUrl?.() !== undefined,
        last_failure: status?.lastFailure
          ? {
              code: status.lastFailure.code,
              message: status.lastFailure.message,
              at: status.lastFailure.at.toISOString(),
            }
          : null,
      };
    },
  );
}
