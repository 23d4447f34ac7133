import type { IncomingMessage } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyError } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import type { GatewayContext, GatewayDeps } from './context.js';
import type { OpenAPIV3 } from 'openapi-types';
import { API_REFERENCE_CSP, completeOpenApi, OPENAPI_DOCUMENT_BASE } from './openapi.js';
import { createApiGuard } from './api-guard.js';
import { createFailedAuthLimiter } from './auth-limiter.js';
import { createAuth } from './auth.js';
import { createRegistrationCache } from './callbacks/registration-cache.js';
import { createHistoryRecorder } from '@callback-gateway/store';
import { GatewayHttpError } from './errors.js';
import { createGatewayMetrics } from './metrics.js';
import { callbackRoutes } from './routes/callbacks.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { deliveryRoutes } from './routes/deliveries.js';
import { opsRoutes } from './routes/ops.js';
import { parseRoutes } from './routes/parse.js';
import { registrationRoutes } from './routes/registrations.js';

export type { GatewayDeps, GatewaySettings } from './context.js';

/** Builds the gateway's HTTP app without listening (tests use `inject()` or port 0). */
export async function buildApp(deps: GatewayDeps) {
  const metrics = createGatewayMetrics(deps.registry);
  const auth = createAuth(deps.apiTokens);
  const trustedProxies = [...(deps.trustedProxies ?? [])];
  const context: GatewayContext = {
    ...deps,
    metrics,
    auth,
    guard: createApiGuard({
      auth,
      // Token guessing on the bearer-authenticated API is slowed down per client address.
      limiter: createFailedAuthLimiter(deps.authLimit),
      metrics,
      logger: deps.logger,
      trustsProxies: trustedProxies.length > 0,
    }),
    now: deps.now ?? (() => new Date()),
    callbackSource: 'llamaparse',
    callbackTargets: createRegistrationCache({ registrations: deps.registrations }),
    history: createHistoryRecorder({ redis: deps.redis, keys: deps.keys }),
  };
  const app = Fastify({
    loggerInstance: deps.logger,
    // One line per request would drown the useful lines at callback rates.
    logController: new LogController({ disableRequestLogging: true }),
    // Behind trusted proxies, request.ip, .protocol and .host are the client's (X-Forwarded-*):
    // the failed-auth limit counts per client, the session cookie is Secure over https.
    trustProxy: trustedProxies.length > 0 ? trustedProxies : false,
    // A sender trickling its body (slowloris) is cut off; so are idle connections.
    requestTimeout: deps.requestTimeoutMs ?? 30_000,
    // Answered by the hook below, in the API's error format.
    return503OnClosing: false,
  });
  // While closing: requests still arriving on open connections get 503 and are told to retry.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) return done();
    const error = new GatewayHttpError(
      'shutting_down',
      'this gateway instance is shutting down: nothing was stored; retry (another instance may answer)',
      {},
      { 'retry-after': '1', connection: 'close' },
    );
    reply.code(error.status).headers(error.headers).send(error.body());
  });
  // Node's requestTimeout does not bound a body trickled in once the handler started: a body
  // must arrive whole within the same time, or the connection is dropped (slowloris). One
  // sweep over the bodies in flight (a timer per request would cost more than the check).
  const bodyDeadlineMs = deps.requestTimeoutMs ?? 30_000;
  const bodiesInFlight = new Map<IncomingMessage, number>();
  const sweep = setInterval(
    () => {
      const now = Date.now();
      for (const [raw, deadline] of bodiesInFlight) {
        if (deadline > now) continue;
        bodiesInFlight.delete(raw);
        raw.socket.destroy();
      }
    },
    Math.max(50, Math.min(1_000, Math.floor(bodyDeadlineMs / 4))),
  );
  sweep.unref();
  app.addHook('onClose', (_instance, done) => {
    clearInterval(sweep);
    // The last second's counts go to Redis while the borrowed connection is still open.
    context.history.close().then(() => done(), done);
  });
  app.addHook('preParsing', (request, _reply, payload, done) => {
    bodiesInFlight.set(request.raw, Date.now() + bodyDeadlineMs);
    done(null, payload);
  });
  // The body is in once validation starts; whatever happens, the response ends it.
  app.addHook('preValidation', (request, _reply, done) => {
    bodiesInFlight.delete(request.raw);
    done();
  });
  app.addHook('onResponse', (request, _reply, done) => {
    bodiesInFlight.delete(request.raw);
    done();
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof GatewayHttpError) {
      return reply.code(error.status).headers(error.headers).send(error.body());
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      return reply.code(400).send({
        error: 'invalid_request',
        message: `the request does not match the API: ${error.validation
          .map((issue) => `${issue.instancePath || '(body)'} ${issue.message}`)
          .join('; ')}`,
        issues: error.validation.map((issue) => ({
          path: issue.instancePath,
          message: issue.message,
        })),
      });
    }
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      context.metrics.rejections.inc({ reason: 'payload_too_large' });
      context.history.rejected('payload_too_large');
      return reply.code(413).send({
        error: 'payload_too_large',
        message: `the body is larger than the limit of ${deps.settings.bodyLimitBytes} bytes (GATEWAY_BODY_LIMIT_BYTES)`,
      });
    }
    if (
      ['FST_REQ_FILE_TOO_LARGE', 'FST_FILES_LIMIT', 'FST_PARTS_LIMIT', 'FST_FIELDS_LIMIT'].includes(
        error.code,
      )
    ) {
      return reply.code(413).send({
        error: 'payload_too_large',
        message: `the upload is too large or has too many parts (documents up to ${deps.settings.uploadLimitBytes} bytes, GATEWAY_UPLOAD_LIMIT_BYTES)`,
      });
    }
    if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      return reply.code(415).send({ error: 'unsupported_media_type', message: error.message });
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return reply
        .code(error.statusCode)
        .send({ error: 'invalid_request', message: error.message });
    }
    request.log.error({ err: error, url: request.url }, 'unexpected error');
    return reply
      .code(500)
      .send({ error: 'internal_error', message: 'unexpected error; it was logged' });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: 'not_found',
      message: `no route ${request.method} ${request.url.split('?')[0]}`,
    }),
  );

  await app.register(swagger, {
    openapi: OPENAPI_DOCUMENT_BASE,
    transform: jsonSchemaTransform,
    transformObject: (document) =>
      'openapiObject' in document
        ? completeOpenApi(document.openapiObject as OpenAPIV3.Document)
        : document.swaggerObject,
  });
  // The readable reference beside /openapi.json: swagger-ui's files from its package, never a
  // CDN, under a CSP that allows them alone.
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: API_REFERENCE_CSP,
    uiConfig: { defaultModelsExpandDepth: 0, tryItOutEnabled: false },
  });

  await app.register(opsRoutes, context);
  await app.register(registrationRoutes, context);
  await app.register(deliveryRoutes, context);
  await app.register(parseRoutes, context);
  await app.register(dashboardRoutes, context);
  await app.register(callbackRoutes, context);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

export type GatewayApp = Awaited<ReturnType<typeof buildApp>>;
