import type { AuditLog, Logger } from '@callback-gateway/audit';
import {
  isLlamaCloudError,
  PARSE_END_EVENTS,
  type LlamaCloudClient,
} from '@callback-gateway/llamacloud';
import {
  issueRegistration,
  type ParseSubmissionJob,
  type RegistrationStore,
  type Submission,
  type SubmissionStore,
} from '@callback-gateway/store';
import {
  CALLBACK_PATH_PREFIX,
  isWebhookUrlError,
  type WebhookUrlResolver,
} from '@callback-gateway/webhook-url';
import { UnrecoverableError, type Job } from 'bullmq';
import { Counter, type Registry } from 'prom-client';

/** A submission attempt to retry after `delayMs`. */
export class RetrySubmissionError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'RetrySubmissionError';
  }
}

/** What the submission processor needs. */
export interface SubmissionDeps {
  submissions: SubmissionStore;
  registrations: RegistrationStore;
  /** The public URL resolver; undefined until it started (it needs Redis). */
  webhookUrl: () => Pick<WebhookUrlResolver, 'resolve'> | undefined;
  /** undefined when no LlamaCloud API key is configured. */
  llamaCloud: LlamaCloudClient | undefined;
  registrationTtlSeconds: number;
  expectCallbackWithinSeconds: number;
  /** Tier and version of a v2 job whose submission names none (`LLAMA_CLOUD_PARSE_*`). */
  parseDefaults: ParseDefaults;
  audit: AuditLog;
  logger: Logger;
  registry: Registry;
  /** Called with the reason while submissions wait for a public URL, and undefined once one works. */
  onUrlState?: (waitingReason: string | undefined) => void;
  now?: () => Date;
  random?: () => number;
}

/** The tier and version every v2 job must name, when its submission does not. */
export interface ParseDefaults {
  tier: string;
  version: string;
}

/** Waits between attempts that found no public URL or a busy parser: 5 s doubling to 5 min. */
export function submissionRetryDelayMs(
  attempt: number,
  random: () => number = Math.random,
): number {
  const step = Math.min(300_000, 5_000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(step / 2 + (random() * step) / 2);
}

/**
 * Submits one document to LlamaParse, the BullMQ processor of the parse submission queue:
 * registers it (once), resolves a verified public callback URL (or waits, retrying: nothing is
 * ever sent with a localhost or private URL), uploads it with that URL (v2: signed
 * `webhook_configurations`; v1: `webhook_url`), and attaches the parser's job id.
 */
export function createSubmissionProcessor(deps: SubmissionDeps) {
  const now = deps.now ?? (() => new Date());
  const submitted = new Counter({
    name: 'cbgw_parse_submissions_total',
    help: 'Parse submission attempts, by outcome (submitted, waiting_for_url, parser_error, failed).',
    labelNames: ['outcome'],
    registers: [deps.registry],
  });

  const fail = async (submission: Submission, reason: string): Promise<never> => {
    await deps.submissions.update(submission.id, {
      state: 'failed',
      lastError: reason,
      callbackUrl: null,
    });
    submitted.inc({ outcome: 'failed' });
    deps.logger.warn({ submission: submission.id }, `parse submission failed: ${reason}`);
    throw new UnrecoverableError(reason);
  };

  return async (job: Job<ParseSubmissionJob>): Promise<void> => {
    const submission = await deps.submissions.get(job.data.submissionId);
    if (!submission || submission.state === 'submitted' || submission.state === 'failed') return;
    const attempt = job.attemptsMade + 1;
    await deps.submissions.update(submission.id, { attempt: true });
    if (!deps.llamaCloud) {
      return fail(
        submission,
        'LLAMA_CLOUD_API_KEY is not set on the worker: nothing can be submitted',
      );
    }

    // 1. A verified public callback URL, or wait. Never a localhost fallback.
    let callbackUrl = await deps.submissions.callbackUrl(submission.id);
    let registrationId = submission.registrationId;
    if (!callbackUrl || !registrationId) {
      const resolver = deps.webhookUrl();
      let base;
      try {
        if (!resolver)
          throw new Error('the public URL resolver has not started yet (Redis unreachable)');
        base = await resolver.resolve({ purpose: 'parse-submission' });
      } catch (error) {
        const reason = `no verified public callback URL${isWebhookUrlError(error) ? ` (${error.code})` : ''}: ${error instanceof Error ? error.message : String(error)}`;
        const delayMs = submissionRetryDelayMs(attempt, deps.random);
        await deps.submissions.update(submission.id, {
          state: 'waiting_for_url',
          lastError: reason,
        });
        submitted.inc({ outcome: 'waiting_for_url' });
        deps.onUrlState?.(reason);
        throw new RetrySubmissionError(reason, delayMs);
      }
      deps.onUrlState?.(undefined);
      const { registration, token } = await issueRegistration(
        deps.registrations,
        {
          source: 'llamaparse',
          deliverTo: submission.deliverTo,
          metadata: submission.metadata,
          expectCallbackWithinSeconds:
            submission.expectCallbackWithinSeconds ?? deps.expectCallbackWithinSeconds,
          requireSignature: submission.api === 'v2',
          apiClient: submission.apiClient,
        },
        base,
        { registrationTtlSeconds: deps.registrationTtlSeconds, now: now() },
      );
      registrationId = registration.id;
      callbackUrl = `${base.baseUrl}${CALLBACK_PATH_PREFIX}${token}`;
      await deps.submissions.update(submission.id, { registrationId, callbackUrl });
      deps.audit.record({
        type: 'registration.created',
        actor: { kind: 'system', id: 'worker' },
        correlation: { registration_id: registration.id },
        data: {
          source: 'llamaparse',
          deliver_to_origin: new URL(registration.deliverTo).origin,
          callback_base_url: registration.callbackBaseUrl,
          expires_at: registration.expiresAt,
          requires_signature: registration.requireSignature,
        },
      });
    }
    const registration = await deps.registrations.get(registrationId);
    if (!registration)
      return fail(submission, 'its registration expired before the submission went through');

    // 2. Upload, with the callback URL (and, for v2, the signing secret).
    const file = submission.file ? await deps.submissions.file(submission.id) : undefined;
    if (submission.file && !file)
      return fail(submission, 'the uploaded document expired before it could be submitted');
    const upload =
      file && submission.file
        ? { name: submission.file.name, content: file, contentType: submission.file.contentType }
        : undefined;
    let parseJobId: string;
    // v2 only: the tier and version the job is submitted with (v1 has neither).
    const parsing =
      submission.api === 'v2'
        ? {
            tier: submission.tier ?? deps.parseDefaults.tier,
            version: submission.version ?? deps.parseDefaults.version,
          }
        : undefined;
    try {
      if (!parsing) {
        const result = await deps.llamaCloud.uploadV1({
          webhookUrl: callbackUrl,
          ...(upload ? { file: upload } : { inputUrl: submission.sourceUrl ?? '' }),
        });
        parseJobId = result.id;
      } else {
        const params = {
          ...parsing,
          webhook_configurations: [
            {
              webhook_url: callbackUrl,
              webhook_signing_secret: registration.signingSecret,
              webhook_output_format: 'json' as const,
              // Its end, not its progress: a job's pending and running would be delivered too.
              webhook_events: [...PARSE_END_EVENTS],
            },
          ],
        };
        const result = upload
          ? await deps.llamaCloud.uploadV2(upload, params)
          : await deps.llamaCloud.parseV2({ ...params, source_url: submission.sourceUrl ?? '' });
        parseJobId = result.id;
      }
    } catch (error) {
      if (isLlamaCloudError(error) && !error.retryable) {
        return fail(
          submission,
          `LlamaCloud refused the document (${error.code}): ${error.message}`,
        );
      }
      const reason = `LlamaCloud did not take the document: ${error instanceof Error ? error.message : String(error)}`;
      submitted.inc({ outcome: 'parser_error' });
      await deps.submissions.update(submission.id, { lastError: reason });
      const asked = isLlamaCloudError(error) ? error.retryAfterSeconds : undefined;
      throw new RetrySubmissionError(
        reason,
        asked !== undefined ? asked * 1000 : submissionRetryDelayMs(attempt, deps.random),
      );
    }

    // 3. Attach the parser's job id: reconciliation and the pipeline find it there.
    await deps.registrations.attachParseJob(registration.id, parseJobId, submission.api);
    await deps.submissions.update(submission.id, {
      state: 'submitted',
      parseJobId,
      callbackUrl: null,
      lastError: '',
      ...parsing,
    });
    submitted.inc({ outcome: 'submitted' });
    deps.audit.record({
      type: 'parse.submitted',
      actor: { kind: 'system', id: 'worker' },
      correlation: { registration_id: registration.id, parse_job_id: parseJobId },
      data: { submission_id: submission.id, api: submission.api, ...parsing },
    });
    deps.audit.record({
      type: 'registration.updated',
      actor: { kind: 'system', id: 'worker' },
      correlation: { registration_id: registration.id, parse_job_id: parseJobId },
      data: { fields: ['parse_job_id'] },
    });
    deps.logger.info(
      { submission: submission.id, registration: registration.id, parseJob: parseJobId },
      `submitted to LlamaParse (${submission.api}${parsing ? `, ${parsing.tier} at ${parsing.version}` : ''}) with callback URL under ${registration.callbackBaseUrl}`,
    );
  };
}
