import multipart from '@fastify/multipart';
import { checkParseTier, checkParseVersion } from '@callback-gateway/llamacloud';
import { OutboundRefusedError } from '@callback-gateway/outbound';
import { SUBMISSION_STATES, type NewSubmission, type Submission } from '@callback-gateway/store';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { GatewayContext } from '../context.js';
import { apiErrorBody, GatewayHttpError, storageGuard } from '../errors.js';

/** A word `check` accepts (the SDK's known values, or a newer one of the right shape). */
const checkedWord = (check: (value: string) => string | undefined) =>
  z.string().superRefine((value, context) => {
    const problem = check(value);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  });

/** The fields of `POST /v1/parse`, as JSON or as multipart fields beside `file`. */
export const parseFieldsSchema = z
  .object({
    deliver_to: z.string().min(1).max(2_000),
    source_url: z
      .url({ protocol: /^https?$/ })
      .max(2_000)
      .optional(),
    api: z.enum(['v1', 'v2']).default('v2'),
    tier: checkedWord(checkParseTier).optional(),
    version: checkedWord(checkParseVersion).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    expect_callback_within_s: z.coerce
      .number()
      .int()
      .min(1)
      .max(30 * 86_400)
      .optional(),
  })
  .strict();

const submissionView = z.object({
  id: z.string(),
  state: z.enum(SUBMISSION_STATES),
  deliver_to: z.string(),
  source_url: z.string().nullable(),
  file: z.object({ name: z.string(), size: z.number(), contentType: z.string() }).nullable(),
  api: z.enum(['v1', 'v2']),
  tier: z.string().nullable(),
  version: z.string().nullable(),
  registration_id: z.string().nullable(),
  parse_job_id: z.string().nullable(),
  attempts: z.number(),
  last_error: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});

/** The API view of a submission. */
function submissionJson(submission: Submission): z.infer<typeof submissionView> {
  return {
    id: submission.id,
    state: submission.state,
    deliver_to: submission.deliverTo,
    source_url: submission.sourceUrl ?? null,
    file: submission.file ?? null,
    api: submission.api,
    tier: submission.tier ?? null,
    version: submission.version ?? null,
    registration_id: submission.registrationId ?? null,
    parse_job_id: submission.parseJobId ?? null,
    attempts: submission.attempts,
    last_error: submission.lastError ?? null,
    created_at: submission.createdAt,
    updated_at: submission.updatedAt,
  };
}

/**
 * `POST /v1/parse`: a pipeline hands over a document (a file, or a URL the parser fetches) and
 * where to deliver the result; the worker registers it, resolves a verified public callback URL
 * and submits it to LlamaParse. It is never submitted with a localhost or private callback URL:
 * without a public URL it waits (`waiting_for_url`).
 */
export async function parseRoutes(app: FastifyInstance, context: GatewayContext) {
  const { submissions, parseQueue, outbound } = context;
  // Every route here: the token is checked before the upload is read.
  app.addHook('onRequest', context.guard.onRequest);
  const client = (request: FastifyRequest) => context.guard.caller(request);
  const storage = storageGuard(context.metrics, 'parse');
  await app.register(multipart, {
    limits: {
      fileSize: context.settings.uploadLimitBytes,
      files: 1,
      fields: 20,
      fieldSize: 64 * 1024,
      parts: 21,
    },
  });

  const readRequest = async (request: FastifyRequest) => {
    if (!request.isMultipart()) {
      return { fields: (request.body ?? {}) as Record<string, unknown>, file: undefined };
    }
    const fields: Record<string, unknown> = {};
    let file: NewSubmission['file'];
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        if (part.fieldname !== 'file') {
          throw new GatewayHttpError(
            'invalid_request',
            `unexpected file field "${part.fieldname}": send the document as "file"`,
          );
        }
        file = {
          name: part.filename || 'document',
          contentType: part.mimetype,
          content: await part.toBuffer(),
        };
      } else if (part.fieldname === 'metadata' || part.fieldname === 'expect_callback_within_s') {
        try {
          fields[part.fieldname] = JSON.parse(String(part.value));
        } catch {
          throw new GatewayHttpError('invalid_request', `${part.fieldname} must be JSON`);
        }
      } else {
        fields[part.fieldname] = part.value;
      }
    }
    return { fields, file };
  };

  app.post(
    '/v1/parse',
    {
      schema: {
        operationId: 'submitParse',
        summary: 'Submit a document to LlamaParse; the result is delivered to deliver_to',
        response: {
          202: submissionView,
          400: apiErrorBody,
          401: apiErrorBody,
          413: apiErrorBody,
          503: apiErrorBody,
        },
        description:
          'multipart/form-data with "file" and the fields below, or JSON with "source_url". Optional "tier" (fast, cost_effective, agentic, agentic_plus, or a newer one) and "version" (latest, or a dated one) of the v2 parse; without them the worker\'s LLAMA_CLOUD_PARSE_TIER and LLAMA_CLOUD_PARSE_VERSION apply. Answers 202 with the submission; follow it with GET /v1/parse/{id}, which shows the tier and version it was submitted with.',
        security: [{ bearer: [] }],
      },
    },
    async (request, reply) => {
      const apiClient = client(request);
      if (context.localOnlyBaseUrl?.() !== undefined) {
        // Before the upload is read: a parser could never call a local-only gateway back.
        throw new GatewayHttpError(
          'webhook_url_unavailable',
          'local-only mode (GATEWAY_LOCAL_ONLY=true): documents are not submitted to a parser, which could never call this machine back; set NGROK_AUTHTOKEN or PUBLIC_BASE_URL and unset GATEWAY_LOCAL_ONLY',
          { code: 'LOCAL_ONLY_MODE', reasons: [] },
        );
      }
      const { fields, file } = await readRequest(request);
      const parsed = parseFieldsSchema.safeParse(fields);
      if (!parsed.success) {
        throw new GatewayHttpError(
          'invalid_request',
          `the request does not match the API: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ')}`,
          {
            issues: parsed.error.issues.map((issue) => ({
              path: issue.path.join('.'),
              message: issue.message,
            })),
          },
        );
      }
      const body = parsed.data;
      if (body.api === 'v1' && (body.tier !== undefined || body.version !== undefined)) {
        throw new GatewayHttpError(
          'invalid_request',
          'tier and version choose how the v2 API parses; the v1 upload has neither: send api "v2" or leave them out',
        );
      }
      if (!file === !body.source_url) {
        throw new GatewayHttpError(
          'invalid_request',
          'send exactly one of a "file" part or "source_url"',
        );
      }
      try {
        await outbound.checkDestination(body.deliver_to);
      } catch (error) {
        if (!(error instanceof OutboundRefusedError)) throw error;
        throw new GatewayHttpError(
          'destination_refused',
          `deliver_to is refused: ${error.message}`,
          { code: error.code },
        );
      }
      const submission = await storage(async () => {
        const created = await submissions.create({
          deliverTo: body.deliver_to,
          sourceUrl: body.source_url,
          api: body.api,
          tier: body.tier,
          version: body.version,
          metadata: body.metadata,
          expectCallbackWithinSeconds: body.expect_callback_within_s,
          apiClient: apiClient.label,
          file,
        });
        await parseQueue.add(
          'submit',
          { submissionId: created.id },
          {
            jobId: created.id,
            attempts: 1_000,
            backoff: { type: 'submission' },
          },
        );
        return created;
      });
      return reply.code(202).send(submissionJson(submission));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/parse/:id',
    {
      schema: {
        operationId: 'getParseSubmission',
        summary: 'A parse submission: its state, registration and parser job',
        security: [{ bearer: [] }],
        response: { 200: submissionView, 401: apiErrorBody, 404: apiErrorBody },
      },
    },
    async (request) => {
      client(request);
      const submission = await storage(() => submissions.get(request.params.id));
      if (!submission) throw new GatewayHttpError('not_found', 'no such parse submission');
      return submissionJson(submission);
    },
  );
}
