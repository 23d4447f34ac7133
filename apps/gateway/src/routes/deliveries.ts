import { DELIVERY_STATES, type Delivery } from '@callback-gateway/store';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { GatewayContext } from '../context.js';
import { apiErrorBody, GatewayHttpError, storageGuard } from '../errors.js';
import { replayDelivery } from '../replay.js';

const REPLAYABLE = new Set(['dead_lettered', 'delivered']);

const deliveryView = z.object({
  id: z.string().describe('The delivery id: also the webhook-id the pipeline deduplicates on'),
  registration_id: z.string(),
  state: z.enum(DELIVERY_STATES),
  format: z.string(),
  event_type: z.string().nullable(),
  event_id: z.string().nullable(),
  parse_job_id: z.string().nullable(),
  received_at: z.string(),
  attempts: z.number(),
  last_status: z.number().nullable(),
  last_error: z.string().nullable(),
  next_attempt_at: z.string().nullable(),
  delivered_at: z.string().nullable(),
  replays: z.number(),
  reconciled: z.boolean(),
});

/** The API view of a delivery (no payload, no secret). */
export function deliveryJson(delivery: Delivery): z.infer<typeof deliveryView> {
  return {
    id: delivery.id,
    registration_id: delivery.registrationId,
    state: delivery.state,
    format: delivery.format,
    event_type: delivery.eventType ?? null,
    event_id: delivery.eventId ?? null,
    parse_job_id: delivery.jobId ?? null,
    received_at: delivery.receivedAt,
    attempts: delivery.attempts,
    last_status: delivery.lastStatus ?? null,
    last_error: delivery.lastError ?? null,
    next_attempt_at: delivery.nextAttemptAt || null,
    delivered_at: delivery.deliveredAt ?? null,
    replays: delivery.replays,
    reconciled: delivery.reconciled,
  };
}

const errorBody = apiErrorBody;

/** Deliveries: list by state, inspect one with its attempts, replay singly or in bulk. */
export async function deliveryRoutes(app: FastifyInstance, context: GatewayContext) {
  const { deliveries, metrics } = context;
  // Every route here: the token (or the dashboard's cookie, from its own pages) is checked
  // before the body is read.
  app.addHook('onRequest', context.guard.onRequest);
  const client = (request: FastifyRequest) => context.guard.caller(request);
  const api = app.withTypeProvider<ZodTypeProvider>();
  const storage = storageGuard(metrics, 'deliveries');

  const replay = (delivery: Delivery, actor: string, bulk: boolean) =>
    replayDelivery(context, delivery, actor, bulk);

  api.get(
    '/v1/deliveries',
    {
      schema: {
        operationId: 'listDeliveries',
        summary: 'Deliveries in a state, newest first',
        security: [{ bearer: [] }],
        querystring: z.object({
          state: z.enum(DELIVERY_STATES).default('dead_lettered'),
          limit: z.coerce.number().int().min(1).max(1_000).default(100),
        }),
        response: {
          200: z.object({
            state: z.string(),
            total: z.number(),
            deliveries: z.array(deliveryView),
          }),
          401: errorBody,
        },
      },
    },
    async (request) => {
      client(request);
      const { state, limit } = request.query;
      const [total, list] = await storage(() =>
        Promise.all([deliveries.countByState(state), deliveries.listByState(state, limit)]),
      );
      return { state, total, deliveries: list.map(deliveryJson) };
    },
  );

  api.get(
    '/v1/deliveries/:id',
    {
      schema: {
        operationId: 'getDelivery',
        summary: 'One delivery with every attempt',
        security: [{ bearer: [] }],
        params: z.object({ id: z.string().max(100) }),
        response: { 200: deliveryView.loose(), 401: errorBody, 404: errorBody },
      },
    },
    async (request) => {
      client(request);
      const delivery = await storage(() => deliveries.get(request.params.id));
      if (!delivery) throw new GatewayHttpError('not_found', 'no such delivery');
      const attempts = await storage(() => deliveries.attempts(delivery.id));
      return {
        ...deliveryJson(delivery),
        attempt_log: attempts.map((attempt) => ({
          attempt: attempt.attempt,
          at: attempt.at,
          status: attempt.status ?? null,
          latency_ms: attempt.latencyMs,
          error: attempt.error ?? null,
          outcome: attempt.outcome,
        })),
      };
    },
  );

  api.post(
    '/v1/deliveries/:id/replay',
    {
      schema: {
        operationId: 'replayDelivery',
        summary: 'Deliver again (same webhook-id): a dead letter, or a delivered one',
        security: [{ bearer: [] }],
        params: z.object({ id: z.string().max(100) }),
        response: {
          202: z.object({ id: z.string(), replay: z.number() }),
          401: errorBody,
          404: errorBody,
          409: errorBody,
        },
      },
    },
    async (request, reply) => {
      const apiClient = client(request);
      const delivery = await storage(() => deliveries.get(request.params.id));
      if (!delivery) throw new GatewayHttpError('not_found', 'no such delivery');
      if (!REPLAYABLE.has(delivery.state)) {
        throw new GatewayHttpError(
          'conflict',
          `the delivery is ${delivery.state}: it is already on its way; only dead_lettered or delivered ones are replayed`,
        );
      }
      const number = await storage(() => replay(delivery, apiClient.label, false));
      return reply.code(202).send({ id: delivery.id, replay: number });
    },
  );

  api.post(
    '/v1/deliveries/replay',
    {
      schema: {
        operationId: 'replayDeliveries',
        summary: 'Replay many deliveries at once, by filter (dead letters by default)',
        security: [{ bearer: [] }],
        body: z
          .object({
            state: z.enum(['dead_lettered', 'delivered']).default('dead_lettered'),
            registration_id: z.string().max(100).optional(),
            limit: z.number().int().min(1).max(10_000).default(1_000),
          })
          .strict()
          .default({ state: 'dead_lettered', limit: 1_000 }),
        response: {
          202: z.object({ replayed: z.number(), ids: z.array(z.string()) }),
          401: errorBody,
        },
      },
    },
    async (request, reply) => {
      const apiClient = client(request);
      const { state, registration_id: registrationId, limit } = request.body;
      const candidates = await storage(() =>
        registrationId === undefined
          ? deliveries.listByState(state, limit)
          : deliveries.listForRegistration(registrationId, limit),
      );
      const chosen = candidates.filter((delivery) => delivery.state === state);
      const ids: string[] = [];
      for (const delivery of chosen) {
        await storage(() => replay(delivery, apiClient.label, true));
        ids.push(delivery.id);
      }
      return reply.code(202).send({ replayed: ids.length, ids });
    },
  );
}
