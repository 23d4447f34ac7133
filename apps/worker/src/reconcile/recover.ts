import { jobOutcome, type LlamaCloudClient } from '@callback-gateway/llamacloud';
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

type CallbackBase = Omit<
  IncomingCallback,
  'registrationId' | 'receivedAt' | 'format' | 'payloadJson'
>;

/** The job's end as the event envelope LlamaCloud would have sent, marked as reconciled. */
function endedAsEvent(
  base: CallbackBase,
  jobId: string,
  outcome: string,
  status: string,
  errorMessage: string | null | undefined,
  via: string,
): JobCheck {
  const eventType = EVENT_TYPE[outcome] ?? 'parse.success';
  const payload = {
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
  };
  return {
    state: 'ended',
    status,
    via,
    callback: {
      ...base,
      format: 'event',
      eventType,
      eventId: payload.event_id,
      payloadJson: JSON.stringify(payload),
    },
  };
}

/** True when a finished v2 job's markdown has a page that failed. */
function hasFailedPages(result: { markdown?: { pages: Array<{ success: boolean }> } | null }) {
  return (result.markdown?.pages ?? []).some((page) => !page.success);
}

/**
 * Asks LlamaCloud how a registration's job stands, through the API the job was submitted to
 * (the registration's `parseApi`; v2 when nobody said), and when it ended, builds the callback
 * that never arrived: the v2 event envelope (`parse.success`, `parse.partial_success` when pages
 * failed, `parse.error`, `parse.cancelled`) or, for v1 jobs, the legacy full result fetched from
 * the result endpoints. Either is marked `reconciled`.
 */
export async function checkJob(
  client: LlamaCloudClient,
  registration: Registration,
): Promise<JobCheck> {
  const jobId = registration.parseJobId;
  if (!jobId)
    return { state: 'unknown', reason: 'no parser job id is attached to the registration' };
  const base: CallbackBase = {
    contentType: 'application/json',
    dedupKey: `reconciled:${jobId}`,
    jobId,
    stringEncoded: false,
    signature: 'not_configured' as const,
    final: true,
    reconciled: true,
  };
  if ((registration.parseApi ?? 'v2') === 'v2') {
    const { job } = await client.getJobV2(jobId);
    let outcome = jobOutcome(job.status);
    if (outcome === 'running') return { state: 'running', status: job.status };
    // v2 has no partial status: a COMPLETED job's pages say whether some failed.
    if (outcome === 'succeeded') {
      const withPages = await client.getJobV2(jobId, { expand: ['markdown'] });
      if (hasFailedPages(withPages)) outcome = 'partial';
    }
    return endedAsEvent(
      base,
      jobId,
      outcome,
      job.status,
      job.error_message,
      'GET /api/v2/parse/{job_id}',
    );
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
      via: 'GET /api/parsing/job/{job_id}',
      callback: { ...base, format: 'legacy', payloadJson: JSON.stringify(payload) },
    };
  }
  return endedAsEvent(
    base,
    jobId,
    outcome,
    job.status,
    job.error_message,
    'GET /api/parsing/job/{job_id}',
  );
}
