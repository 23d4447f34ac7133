import type { OpenAPIV3 } from 'openapi-types';
import { z } from 'zod';
import { parseFieldsSchema } from './routes/parse.js';

/** The document's header: what a client generator and a reader need besides the routes. */
export const OPENAPI_DOCUMENT_BASE: Partial<OpenAPIV3.Document> = {
  info: {
    title: 'Callback Gateway',
    version: '1',
    description:
      'Registrations, parser callbacks, deliveries and replay. Every operation but GET /v1/webhook-url takes `Authorization: Bearer <one of GATEWAY_API_TOKENS>`. Errors are JSON {"error": "<code>", "message": "..."}.',
    license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
  },
  servers: [
    {
      url: 'http://127.0.0.1:8080',
      description: "The gateway with `npm start`'s defaults; use your gateway's URL",
    },
  ],
  components: {
    securitySchemes: {
      bearer: {
        type: 'http',
        scheme: 'bearer',
        description:
          'One of GATEWAY_API_TOKENS (`npm start` keeps a local one in .local/api-token)',
      },
    },
  },
  security: [{ bearer: [] }],
};

/**
 * The reference page's Content-Security-Policy: the gateway's own scripts, styles and document,
 * nothing from elsewhere, never framed. swagger-ui sets inline styles, so styles (only) may be
 * inline.
 */
export const API_REFERENCE_CSP = [
  "default-src 'none'",
  "base-uri 'none'",
  "connect-src 'self'",
  "font-src 'self' data:",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "img-src 'self' data:",
  "script-src 'self'",
  "script-src-attr 'none'",
  "style-src 'self' 'unsafe-inline'",
].join('; ');

const PIPELINE = 'https://pipeline.example.com/callbacks';
const REGISTRATION = {
  id: 'reg_5f1c2a7e9b0d4c3e8a6f1b2d3c4e5f60',
  state: 'waiting',
  source: 'llamaparse',
  deliver_to: PIPELINE,
  parse_job_id: null,
  parse_api: 'v2',
  metadata: { document: 'q3-report.pdf' },
  callback_url_source: 'ngrok',
  require_signature: false,
  created_at: '2026-12-02T14:00:00.000Z',
  expires_at: '2026-12-09T14:00:00.000Z',
  expect_callback_by: '2026-12-02T15:00:00.000Z',
  callbacks_received: 0,
  last_callback_at: null,
};
const SUBMISSION = {
  id: 'sub_44659fcd42954b829d94866c62159f54',
  state: 'queued',
  deliver_to: PIPELINE,
  source_url: 'https://docs.example.com/q3-report.pdf',
  file: null,
  api: 'v2',
  tier: null,
  version: null,
  registration_id: null,
  parse_job_id: null,
  attempts: 0,
  last_error: null,
  created_at: '2026-12-02T14:00:00.000Z',
  updated_at: '2026-12-02T14:00:00.000Z',
};

/** Request and answer examples per operation, checked against their schemas by `redocly lint`. */
const EXAMPLES: Record<string, { request?: unknown; answers?: Record<string, unknown> }> = {
  createRegistration: {
    request: {
      deliver_to: PIPELINE,
      source: 'llamaparse',
      metadata: { document: 'q3-report.pdf' },
    },
    answers: {
      '201': {
        ...REGISTRATION,
        callback_url:
          'https://hooks.example.com/v1/callbacks/llamaparse/h2Qd0o3aVwqk5b2Jr8oZ7yT1nX6cE4sLmPfGiUvWzAA',
        signing_secret: 'kQ2x7bV9cN1mZ8aL3sD5fG6hJ0pR4tY7uI2oE9wQ1zX',
        delivery_secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        local_only: false,
      },
      '503': {
        error: 'webhook_url_unavailable',
        message:
          'no verified public callback URL is available, so none was issued (never a localhost one): no public URL source is configured',
      },
    },
  },
  attachParseJob: { request: { parse_job_id: '7adda910-beaf-4de3-9395-d4c78e8c320f' } },
  replayDeliveries: { request: { state: 'dead_lettered', limit: 100 } },
  submitParse: {
    request: {
      deliver_to: PIPELINE,
      source_url: 'https://docs.example.com/q3-report.pdf',
      tier: 'cost_effective',
    },
    answers: { '202': SUBMISSION },
  },
  getParseSubmission: { answers: { '200': { ...SUBMISSION, state: 'waiting_for_url' } } },
  getWebhookUrl: {
    answers: {
      '200': {
        base_url: 'https://hooks.example.com',
        source: 'cloud_config',
        verified_by: 'dns',
        resolved_at: '2026-12-02T14:00:00.000Z',
        insecure: false,
        tunnel: 'idle',
        local_only: false,
        last_failure: null,
      },
    },
  },
};

const OPERATION_METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/**
 * Completes the document the routes produce (`@fastify/swagger`'s `transformObject`): the
 * request body of `POST /v1/parse` (multipart with a file, or JSON), which its route reads
 * itself, and the examples.
 */
export function completeOpenApi(document: OpenAPIV3.Document): OpenAPIV3.Document {
  const fields = z.toJSONSchema(parseFieldsSchema, {
    target: 'openapi-3.0',
    io: 'input',
    unrepresentable: 'any',
  }) as OpenAPIV3.SchemaObject;
  delete (fields as Record<string, unknown>)['$schema'];
  const submit = document.paths['/v1/parse']?.post;
  if (submit) {
    submit.requestBody = {
      required: true,
      content: {
        'multipart/form-data': {
          schema: {
            ...fields,
            properties: {
              ...fields.properties,
              file: { type: 'string', format: 'binary', description: 'The document' },
            },
          },
        },
        'application/json': { schema: fields },
      },
    };
  }
  for (const item of Object.values(document.paths)) {
    for (const method of OPERATION_METHODS) {
      const operation = item?.[method];
      const examples = operation?.operationId ? EXAMPLES[operation.operationId] : undefined;
      if (!operation || !examples) continue;
      const body = operation.requestBody as OpenAPIV3.RequestBodyObject | undefined;
      const json = body?.content['application/json'];
      if (json && examples.request !== undefined) json.example = examples.request;
      for (const [status, example] of Object.entries(examples.answers ?? {})) {
        const answer = operation.responses[status] as OpenAPIV3.ResponseObject | undefined;
        const content = answer?.content?.['application/json'];
        if (content) content.example = example;
      }
    }
  }
  return document;
}
