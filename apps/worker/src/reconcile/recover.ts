import { isLlamaCloudError, jobOutcome, type LlamaCloudClient } from '@callback-gateway/llamacloud';
import type { IncomingCallback, Registration } from '@callback-gateway/store';

/** What asking the parser about a job came to. */
export type JobCheck =
  | { state: 'running'; status: string }
  | { state: 'unknown'; reason: string }
  | {
      state: 'ended';
      status: string;
      via: string;
      callback: Omit<IncomingCallback, 'registrationId' | 'receivedAt'>;
    };

const EVENT_TYPE: Record<string, string> = {
  succeeded: 'parse.success',
  partial: 'parse.partial_success',
  failed: 'parse.error',
  cancelled: 'parse.cancelled',
};

/** The event envelope LlamaCloud would have sent, marked as reconciled. */
function envelope(
  jobId: string,
  outcome: string,
  status: string,
  errorMessage: string | null | undefined,
) {
  const eventType = EVENT_TYPE[outcome] ?? 'parse.success';
  return {
    eventType,
    payloadJson: JSON.stringify({
      event_id: `reconciled:${jobId}`,
      event_type: eventType,
      timestamp: Date.now() / 1000,
      data: {
        id: jobId,
        job_id: jobId,
        status,
        ...(errorMessage ? { error_message: errorMessage } : {}),
      },
      reconciled: true,
    }),
  };
}

/**
 * Asks LlamaCloud how a registration's job stands (v2 first, then v1 for jobs the v2 API does
 * not know), and when it ended, builds the callback that never arrived: the v2 event envelope
 * (`parse.success`, `parse.error`, ...) or, for v1 jobs, the legacy full result fetched from
 * the result endpoints. Either is marked `reconciled`.
 */
export async function checkJob(
  client: LlamaCloudClient,
  registration: Registration,
): Promise<JobCheck> {
  const jobId = registration.parseJobId;
  if (!jobId)
    return { state: 'unknown', reason: 'no parser job id is attached to the registration' };
  const base = {
    contentType: 'application/json',
    dedupKey: `reconciled:${jobId}`,
    jobId,
    stringEncoded: false,
    signature: 'not_configured' as const,
    final: true,
    reconciled: true,
  };
  try {
    const { job } = await client.getJobV2(jobId);
    const outcome = jobOutcome(job.status);
    if (outcome === 'running') return { state: 'running', status: job.status };
    const built = envelope(jobId, outcome, job.status, job.errorMessage);
    return {
      state: 'ended',
      status: job.status,
      via: 'GET /api/v2/parse/{job_id}',
      callback: {
        ...base,
        format: 'event',
        eventType: built.eventType,
        eventId: `reconciled:${jobId}`,
        payloadJson: built.payloadJson,
      },
    };
  } catch (error) {
    if (!(isLlamaCloudError(error) && error.code === 'LLAMACLOUD_NOT_FOUND')) throw error;
  }
  const job = await client.getJobV1(jobId);
  const outcome = jobOutcome(job.status);
  if (outcome === 'running') return { state: 'running', status: job.status };
  if (outcome === 'succeeded' || outcome === 'partial') {
    const [markdown, text, json] = await Promise.all([
      client.getResultV1(jobId, 'markdown'),
      client.getResultV1(jobId, 'text'),
      client.getResultV1(jobId, 'json'),
    ]);
    const payload = {
      txt: text.text,
      md: markdown.markdown,
      json: json.pages,
      images: [],
      reconciled: true,
    };
    return {
      state: 'ended',
      status: job.status,
      via: 'GET /api/v1/parsing/job/{job_id}',
      callback: { ...base, format: 'legacy', payloadJson: JSON.stringify(payload) },
    };
  }
  const built = envelope(jobId, outcome, job.status, job.errorMessage);
  return {
    state: 'ended',
    status: job.status,
    via: 'GET /api/v1/parsing/job/{job_id}',
    callback: {
      ...base,
      format: 'event',
      eventType: built.eventType,
      eventId: `reconciled:${jobId}`,
      payloadJson: built.payloadJson,
    },
  };
}
