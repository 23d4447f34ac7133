import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { DELIVERY_STATES } from '@callback-gateway/store';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { sessionCookie } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { BULL_BOARD_CSP, DASHBOARD_CSP, DASHBOARD_HTML, DASHBOARD_JS } from './dashboard-page.js';
import { deliveryJson } from './deliveries.js';

const ALIVE_WITHIN_MS = 30_000;

async function counterByLabel(context: GatewayContext, name: string, label: string) {
  const metric = context.registry.getSingleMetric(name);
  const out: Record<string, number> = {};
  if (!metric) return out;
  for (const value of (await metric.get()).values) {
    const key = String(value.labels[label] ?? '');
    out[key] = (out[key] ?? 0) + value.value;
  }
  return out;
}

/**
 * The on-call page (`/dashboard`): live figures, the public URL and tunnel state, overdue
 * registrations, dead letters with replay buttons, and bull-board (`/dashboard/queues`) for
 * queue inspection. Behind the API's auth: a bearer token, or the session cookie the page's
 * login opens with one (HttpOnly, SameSite=Strict, Secure over https), which changes state only
 * from the gateway's own pages (`api-guard.ts`). Neither may be framed by another page.
 */
export async function dashboardRoutes(app: FastifyInstance, context: GatewayContext) {
  const hidden = { schema: { hide: true } };
  const page = (reply: FastifyReply, type: string, body: string) =>
    reply
      .type(type)
      .header('cache-control', 'no-store')
      .header('content-security-policy', DASHBOARD_CSP)
      .send(body);

  app.get('/dashboard', hidden, async (_request, reply) =>
    page(reply, 'text/html; charset=utf-8', DASHBOARD_HTML),
  );
  app.get('/dashboard/app.js', hidden, async (_request, reply) =>
    page(reply, 'text/javascript; charset=utf-8', DASHBOARD_JS),
  );

  // The request's protocol is the browser's (X-Forwarded-Proto from a trusted proxy).
  const secure = (request: { protocol: string }) => ({ secure: request.protocol === 'https' });

  app.post('/dashboard/login', hidden, async (request, reply) => {
    const token = (request.body as { token?: unknown } | undefined)?.token;
    const session = context.guard.openSession(request, token);
    return reply
      .header(
        'set-cookie',
        sessionCookie(
          { value: session, maxAgeSeconds: context.auth.sessionSeconds },
          secure(request),
        ),
      )
      .send({ ok: true });
  });

  app.post('/dashboard/logout', hidden, async (request, reply) =>
    reply.header('set-cookie', sessionCookie(undefined, secure(request))).send({ ok: true }),
  );

  app.get('/v1/dashboard/summary', { ...hidden, onRequest: context.guard.onRequest }, async () => {
    const { redis, keys, deliveries, registrations } = context;
    const now = Date.now();
    const status = context.webhookUrl()?.status();
    const [
      stateCounts,
      queueCounts,
      overdueTotal,
      overdueIds,
      deadLetters,
      gateways,
      workers,
      callbacks,
    ] = await Promise.all([
      Promise.all(
        DELIVERY_STATES.map(
          async (state) => [state, await deliveries.countByState(state)] as const,
        ),
      ),
      context.deliveryQueue
        .getJobCounts('waiting', 'delayed', 'active', 'failed')
        .catch(() => ({})),
      redis.zcard(keys.overdue),
      redis.zrange(keys.overdue, 0, 19),
      deliveries.listByState('dead_lettered', 20),
      redis.zcount(keys.gateways, now - ALIVE_WITHIN_MS, '+inf'),
      redis.zcount(keys.workers, now - ALIVE_WITHIN_MS, '+inf'),
      counterByLabel(context, 'cbgw_callbacks_total', 'outcome'),
    ]);
    const overdue = (await Promise.all(overdueIds.map((id) => registrations.get(id)))).flatMap(
      (entry) =>
        entry
          ? [
              {
                id: entry.id,
                deliver_to: entry.deliverTo,
                parse_job_id: entry.parseJobId ?? null,
                expect_callback_by: entry.expectCallbackBy,
              },
            ]
          : [],
    );
    return {
      generated_at: new Date(now).toISOString(),
      public_url: {
        base_url: status?.current?.baseUrl ?? null,
        source: status?.current?.source ?? null,
        verified_by: status?.current?.verifiedBy ?? null,
        tunnel: status?.tunnel ?? null,
        last_failure: status?.lastFailure?.message ?? null,
      },
      callbacks_since_start: callbacks,
      deliveries: Object.fromEntries(stateCounts),
      queue: queueCounts,
      processes: { gateways, workers },
      overdue: { total: overdueTotal, registrations: overdue },
      dead_letters: {
        total: stateCounts.find(([state]) => state === 'dead_lettered')?.[1] ?? 0,
        items: deadLetters.map(deliveryJson),
      },
    };
  });

  // bull-board, for the queues themselves, behind the same auth; its pages are not framed either.
  await app.register(async (scope) => {
    scope.addHook('onRequest', context.guard.onRequest);
    scope.addHook('onSend', async (_request, reply) => {
      reply.header('content-security-policy', BULL_BOARD_CSP);
    });
    const adapter = new FastifyAdapter();
    createBullBoard({
      queues: [new BullMQAdapter(context.deliveryQueue), new BullMQAdapter(context.parseQueue)],
      serverAdapter: adapter,
      options: { uiConfig: { boardTitle: 'Callback Gateway queues' } },
    });
    adapter.setBasePath('/dashboard/queues');
    await scope.register(adapter.registerPlugin(), { prefix: '/dashboard/queues' });
  });
}
