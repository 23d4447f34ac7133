import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { sessionCookie } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { loadDashboardAssets } from '../dashboard/assets.js';
import {
  dashboardDestinations,
  dashboardHistory,
  dashboardSummary,
  deadLettersOf,
} from '../dashboard/data.js';
import { registrationHistory, searchId } from '../dashboard/drilldown.js';
import { loadRunbook } from '../dashboard/runbook.js';
import { GatewayHttpError, storageGuard } from '../errors.js';
import { replayDelivery } from '../replay.js';
import { BULL_BOARD_CSP, DASHBOARD_CSP } from './dashboard-csp.js';

/** Parses a request part with a zod schema, answering 400 `invalid_request` when it fails. */
function parsed<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new GatewayHttpError(
      'invalid_request',
      result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '),
    );
  }
  return result.data;
}

/**
 * The on-call page (`/dashboard`): a status banner with the alerts' conditions, charts of the
 * last hour and day, destinations with their breakers and a bulk replay, dead letters, overdue
 * registrations, a registration's whole story, and bull-board (`/dashboard/queues`) for the
 * queues. Its HTML, CSS and script are files (`apps/gateway/assets/dashboard`), read at start.
 * Behind the API's auth: a bearer token, or the session cookie the page's login opens with one
 * (HttpOnly, SameSite=Strict, Secure over https), which changes state only from the gateway's
 * own pages (`api-guard.ts`). Neither may be framed by another page.
 */
export async function dashboardRoutes(app: FastifyInstance, context: GatewayContext) {
  const hidden = { schema: { hide: true } };
  const assets = await loadDashboardAssets();
  const send = (reply: FastifyReply, asset: { type: string; body: Buffer }) =>
    reply
      .type(asset.type)
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', DASHBOARD_CSP)
      .send(asset.body);

  app.get('/dashboard', hidden, async (_request, reply) => send(reply, assets.page));
  const runbook = await loadRunbook();
  app.get('/dashboard/runbook', hidden, async (_request, reply) => {
    if (!runbook)
      throw new GatewayHttpError('not_found', 'docs/operating.md is not installed here');
    return send(reply, { type: 'text/html; charset=utf-8', body: runbook });
  });
  app.get<{ Params: { name: string } }>(
    '/dashboard/assets/:name',
    hidden,
    async (request, reply) => {
      const asset = assets.files.get(request.params.name);
      if (!asset) throw new GatewayHttpError('not_found', 'no such dashboard file');
      return send(reply, asset);
    },
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

  // The page's data, behind the API's auth (token or session cookie).
  const guarded = { ...hidden, onRequest: context.guard.onRequest };
  const storage = storageGuard(context.metrics, 'dashboard');
  const now = () => context.now().getTime();

  app.get('/v1/dashboard/summary', guarded, async () => dashboardSummary(context, now()));

  app.get('/v1/dashboard/history', guarded, async (request: FastifyRequest) => {
    const { hours } = parsed(
      z.object({ hours: z.enum(['1', '24']).default('1') }),
      request.query ?? {},
    );
    return storage(() => dashboardHistory(context, now(), hours === '24' ? 24 : 1));
  });

  app.get('/v1/dashboard/destinations', guarded, async () =>
    storage(() => dashboardDestinations(context, now())),
  );

  app.post('/v1/dashboard/destinations/replay', guarded, async (request, reply) => {
    const actor = context.guard.caller(request).label;
    const { destination } = parsed(
      z.object({ destination: z.string().min(1).max(300) }).strict(),
      request.body,
    );
    const ids = await storage(() => deadLettersOf(context, destination));
    const requeued: string[] = [];
    for (const id of ids) {
      const delivery = await storage(() => context.deliveries.get(id));
      // Replayed or expired meanwhile: not this replay's to count.
      if (delivery?.state !== 'dead_lettered') continue;
      await storage(() => replayDelivery(context, delivery, actor, true)).then(
        () => requeued.push(id),
        (error: unknown) => {
          if (!(error instanceof GatewayHttpError) || error.error !== 'not_found') throw error;
        },
      );
    }
    context.logger.info(
      { destination, requeued: requeued.length, actor },
      `dead letters of ${destination} replayed from the dashboard: ${requeued.length} requeued`,
    );
    return reply.code(202).send({ destination, requeued: requeued.length, ids: requeued });
  });

  app.get('/v1/dashboard/search', guarded, async (request: FastifyRequest) => {
    const { q } = parsed(z.object({ q: z.string().max(200).default('') }), request.query ?? {});
    return { hits: await storage(() => searchId(context, q)) };
  });

  app.get<{ Params: { id: string } }>(
    '/v1/dashboard/registrations/:id',
    guarded,
    async (request) => {
      const registration = await storage(() => context.registrations.get(request.params.id));
      if (!registration) throw new GatewayHttpError('not_found', 'no such registration');
      return storage(() => registrationHistory(context, registration));
    },
  );

  // bull-board, for the queues themselves, behind the same auth; its pages are not framed either.
  await app.register(async (scope) => {
    scope.addHook('onRequest', context.guard.onRequest);
    scope.addHook('onSend', async (_request, reply) => {
      reply.header('content-security-policy', BULL_BOARD_CSP);
    });
    const adapter = new FastifyAdapter();
    createBullBoard({
      // One board entry per partition's delivery queue (`p<n>:deliveries` past the first).
      queues: [
        ...context.deliveryQueues.map(
          (queue, partition) =>
            new BullMQAdapter(queue, partition === 0 ? {} : { prefix: `p${partition}:` }),
        ),
        new BullMQAdapter(context.parseQueue),
      ],
      serverAdapter: adapter,
      options: { uiConfig: { boardTitle: 'Callback Gateway queues' } },
    });
    adapter.setBasePath('/dashboard/queues');
    await scope.register(adapter.registerPlugin(), { prefix: '/dashboard/queues' });
  });
}
