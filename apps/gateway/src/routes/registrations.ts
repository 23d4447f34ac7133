import { OutboundRefusedError } from '@callback-gateway/outbound';
import {
  issueRegistration,
  PARSE_APIS,
  readAcrossPartitions,
  type Registration,
} from '@callback-gateway/store';
import { CALLBACK_PATH_PREFIX, isWebhookUrlError } from '@callback-gateway/webhook-url';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { GatewayContext } from '../context.js';
import { apiErrorBody, GatewayHttpError, storageGuard } from '../errors.js';
import { deliveryJson } from './deliveries.js';

const WHSEC = /^whsec_([A-Za-z0-9+/]+={0,2})$/;

const parseApi = z
  .enum(PARSE_APIS)
  .describe(
    'The LlamaCloud API the parse job was submitted to (reconciliation asks that one); v2 when not given',
  );

const createBody = z
  .object({
    deliver_to: z.string().min(1).max(2_000).describe('The pipeline URL deliveries are POSTed to'),
    source: z.literal('llamaparse').default('llamaparse'),
    parse_job_id: z.string().min(1).max(200).optional(),
    parse_api: parseApi.optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    expect_callback_within_s: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400)
      .optional()
      .describe('Deadline of the final callback, in seconds from now'),
    delivery_secret: z
      .string()
      .regex(WHSEC, 'expected a Standard Webhooks secret: "whsec_" + base64 of 24 to 64 bytes')
      .refine(
        (secret) => {
          const bytes = Buffer.from(secret.slice(6), 'base64').length;
          return bytes >= 24 && bytes <= 64;
        },
        { message: 'expected a Standard Webhooks secret: "whsec_" + base64 of 24 to 64 bytes' },
      )
      .optional(),
    require_signature: z.boolean().default(false),
  })
  .strict();

const registrationView = z.object({
  id: z.string(),
  state: z.string(),
  source: z.string(),
  deliver_to: z.string(),
  parse_job_id: z.string().nullable(),
  parse_api: z.enum(PARSE_APIS).nullable(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  callback_url_source: z.string(),
  require_signature: z.boolean(),
  created_at: z.string(),
  expires_at: z.string(),
  expect_callback_by: z.string(),
  callbacks_received: z.number(),
  last_callback_at: z.string().nullable(),
});

const created = registrationView.extend({
  callback_url: z
    .string()
    .nullable()
    .describe(
      'The URL to give the parser as its webhook URL: public and verified, never a localhost one; null only in local-only mode',
    ),
  signing_secret: z.string(),
  delivery_secret: z.string(),
  local_only: z
    .boolean()
    .describe('True when issued in local-only mode (GATEWAY_LOCAL_ONLY): no parser can reach it'),
  local_callback_url: z
    .string()
    .optional()
    .describe(
      'Local-only mode: the loopback URL to post test callbacks to from this machine; never give it to a parser',
    ),
  warning: z.string().optional(),
});

/** What every local-only registration says (and its log line). */
const LOCAL_ONLY_WARNING =
  'LOCAL-ONLY MODE (GATEWAY_LOCAL_ONLY=true): this registration has no public callback URL, so callback_url is null and no parser can call back; post test callbacks to local_callback_url from this machine. Set NGROK_AUTHTOKEN or PUBLIC_BASE_URL (and unset GATEWAY_LOCAL_ONLY) for real parser callbacks.';

const errorBody = apiErrorBody;
const idParams = z.object({ id: z.string().max(100) });

function view(registration: Registration): z.infer<typeof registrationView> {
  return {
    id: registration.id,
    state: registration.state,
    source: registration.source,
    deliver_to: registration.deliverTo,
    parse_job_id: registration.parseJobId ?? null,
    parse_api: registration.parseApi ?? null,
    metadata: registration.metadata ?? null,
    callback_url_source: registration.callbackUrlSource,
    require_signature: registration.requireSignature,
    created_at: registration.createdAt,
    expires_at: registration.expiresAt,
    expect_callback_by: registration.expectCallbackBy,
    callbacks_received: registration.callbacksReceived,
    last_callback_at: registration.lastCallbackAt ?? null,
  };
}

/** Registration API: pipelines register a job before sending it to the parser. */
export async function registrationRoutes(app: FastifyInstance, context: GatewayContext) {
  const { audit, metrics, registrations, outbound, settings } = context;
  const api = app.withTypeProvider<ZodTypeProvider>();
  // Every route here: the token is checked before the body is read (a wrong token gets 401,
  // whatever the body).
  app.addHook('onRequest', context.guard.onRequest);

  const client = (request: FastifyRequest) => context.guard.caller(request);
  const storage = storageGuard(metrics, 'registrations');
  /** The registration with its callbacks and their deliveries (what GET and PATCH answer). */
  const fullView = async (registration: Registration) => {
    const deliveries = await storage(() =>
      context.deliveries.listForRegistration(registration.id, 100),
    );
    return {
      ...view(registration),
      delivery_stopped: registration.deliveryStopped ?? null,
      callbacks: deliveries.map((delivery) => ({
        id: delivery.id,
        received_at: delivery.receivedAt,
        format: delivery.format,
        event_type: delivery.eventType ?? null,
        event_id: delivery.eventId ?? null,
      })),
      deliveries: deliveries.map(deliveryJson),
    };
  };
  const refuse = (error: GatewayHttpError): never => {
    metrics.registrationRefusals.inc({ reason: error.error });
    throw error;
  };

  api.post(
    '/v1/registrations',
    {
      schema: {
        operationId: 'createRegistration',
        summary: 'Register a job and get its unique callback URL',
        security: [{ bearer: [] }],
        body: createBody,
        response: { 201: created, 400: errorBody, 401: errorBody, 503: errorBody },
      },
    },
    async (request, reply) => {
      const apiClient = client(request);
      const body = request.body;
      try {
        await outbound.checkDestination(body.deliver_to);
      } catch (error) {
        if (!(error instanceof OutboundRefusedError)) throw error;
        refuse(
          new GatewayHttpError('destination_refused', `deliver_to is refused: ${error.message}`, {
            code: error.code,
          }),
        );
      }
      const localOnlyBaseUrl = context.localOnlyBaseUrl?.();
      const resolver = context.webhookUrl();
      let base;
      if (localOnlyBaseUrl !== undefined) {
        // Never through the resolver: a loopback URL is never cached, verified or handed out
        // as a callback_url.
        base = { baseUrl: localOnlyBaseUrl, source: 'local_only' };
      } else {
        try {
          if (!resolver) throw new Error('the public URL resolver has not started yet');
          base = await resolver.resolve({ purpose: 'registration' });
        } catch (error) {
          metrics.webhookUrlUnavailable.inc({ purpose: 'registration' });
          const reasons =
            isWebhookUrlError(error) && 'reasons' in error
              ? (error as { reasons: readonly unknown[] }).reasons
              : [];
          refuse(
            new GatewayHttpError(
              'webhook_url_unavailable',
              `no verified public callback URL is available, so none was issued (never a localhost one): ${error instanceof Error ? error.message : String(error)}`,
              { code: isWebhookUrlError(error) ? error.code : 'WEBHOOK_URL_UNAVAILABLE', reasons },
              { 'retry-after': '30' },
            ),
          );
        }
      }
      if (!base) throw new Error('unreachable');

      const { registration, token } = await storage(() =>
        issueRegistration(
          registrations,
          {
            source: body.source,
            deliverTo: body.deliver_to,
            parseJobId: body.parse_job_id,
            parseApi: body.parse_api,
            metadata: body.metadata,
            expectCallbackWithinSeconds:
              body.expect_callback_within_s ?? settings.expectCallbackWithinSeconds,
            deliverySecret: body.delivery_secret,
            requireSignature: body.require_signature,
            apiClient: apiClient.label,
          },
          base,
          { registrationTtlSeconds: settings.registrationTtlSeconds, now: context.now() },
        ),
      );
      metrics.registrations.inc();
      context.history.count('registered');
      audit.record({
        type: 'registration.created',
        actor: { kind: 'api_client', id: apiClient.label },
        correlation: {
          registration_id: registration.id,
          ...(registration.parseJobId !== undefined && { parse_job_id: registration.parseJobId }),
        },
        data: {
          source: registration.source,
          deliver_to_origin: new URL(registration.deliverTo).origin,
          callback_base_url: registration.callbackBaseUrl,
          expires_at: registration.expiresAt,
          requires_signature: registration.requireSignature,
        },
      });
      const secrets = {
        signing_secret: registration.signingSecret,
        delivery_secret: registration.deliverySecret,
      };
      const url = `${base.baseUrl}${CALLBACK_PATH_PREFIX}${token}`;
      if (localOnlyBaseUrl !== undefined) {
        context.logger.warn(
          { registrationId: registration.id },
          `registration ${registration.id} issued in local-only mode: no public callback URL, callbacks only from this machine`,
        );
        return reply.code(201).send({
          ...view(registration),
          callback_url: null,
          ...secrets,
          local_only: true,
          local_callback_url: url,
          warning: LOCAL_ONLY_WARNING,
        });
      }
      return reply.code(201).send({
        ...view(registration),
        callback_url: url,
        ...secrets,
        local_only: false,
      });
    },
  );

  api.get(
    '/v1/registrations',
    {
      schema: {
        operationId: 'listRegistrations',
        summary:
          'Registrations still waiting for their final callback, or overdue (past their deadline)',
        security: [{ bearer: [] }],
        querystring: z.object({
          state: z.enum(['waiting', 'overdue']).default('overdue'),
          limit: z.coerce.number().int().min(1).max(1_000).default(100),
        }),
        response: {
          200: z.object({
            state: z.string(),
            total: z.number(),
            registrations: z.array(registrationView),
          }),
          401: errorBody,
        },
      },
    },
    async (request) => {
      client(request);
      const { state, limit } = request.query;
      const { total, ids } = await storage(() =>
        readAcrossPartitions(
          context.redis,
          context.keys,
          (own) => (state === 'overdue' ? own.overdue : own.waiting),
          limit,
        ),
      );
      const found = await storage(() => Promise.all(ids.map((id) => registrations.get(id))));
      return {
        state,
        total,
        registrations: found.filter((entry): entry is Registration => !!entry).map(view),
      };
    },
  );

  api.get(
    '/v1/registrations/:id',
    {
      schema: {
        operationId: 'getRegistration',
        summary: 'A registration: its state and the callbacks received',
        security: [{ bearer: [] }],
        params: idParams,
        response: { 200: registrationView.loose(), 401: errorBody, 404: errorBody },
      },
    },
    async (request) => {
      client(request);
      const registration = await storage(() => registrations.get(request.params.id));
      if (!registration) throw new GatewayHttpError('not_found', 'no such registration');
      return fullView(registration);
    },
  );

  api.patch(
    '/v1/registrations/:id',
    {
      schema: {
        operationId: 'attachParseJob',
        summary: "Attach the parser's job id after submission",
        security: [{ bearer: [] }],
        params: idParams,
        body: z
          .object({ parse_job_id: z.string().min(1).max(200), parse_api: parseApi.optional() })
          .strict(),
        response: { 200: registrationView.loose(), 400: errorBody, 401: errorBody, 404: errorBody },
      },
    },
    async (request) => {
      const apiClient = client(request);
      const registration = await storage(() =>
        registrations.attachParseJob(
          request.params.id,
          request.body.parse_job_id,
          request.body.parse_api,
        ),
      );
      if (!registration) throw new GatewayHttpError('not_found', 'no such registration');
      audit.record({
        type: 'registration.updated',
        actor: { kind: 'api_client', id: apiClient.label },
        correlation: { registration_id: registration.id, parse_job_id: request.body.parse_job_id },
        data: {
          fields: ['parse_job_id', ...(request.body.parse_api ? ['parse_api'] : [])],
        },
      });
      return fullView(registration);
    },
  );
}
