import type { JobStatusV1, JobStatusV2 } from './responses.js';

/**
 * Where a parse job stands, in the terms reconciliation needs:
 * - `running`: not ended yet (`PENDING`, `RUNNING`); poll again later.
 * - `succeeded`: ended with a full result (v1 `SUCCESS`, v2 `COMPLETED`).
 * - `partial`: ended with a result missing some pages (v1 `PARTIAL_SUCCESS`).
 * - `failed`: ended without a result (v1 `ERROR`, v2 `FAILED`).
 * - `cancelled`: ended because it was cancelled (`CANCELLED`).
 */
export type JobOutcome = 'running' | 'succeeded' | 'failed' | 'cancelled' | 'partial';

const OUTCOMES: Readonly<Record<JobStatusV1 | JobStatusV2, JobOutcome>> = {
  PENDING: 'running',
  RUNNING: 'running',
  SUCCESS: 'succeeded',
  COMPLETED: 'succeeded',
  PARTIAL_SUCCESS: 'partial',
  ERROR: 'failed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
};

/** Maps a v1 or v2 job status to its {@link JobOutcome}. */
export function jobOutcome(status: JobStatusV1 | JobStatusV2): JobOutcome {
  return OUTCOMES[status];
}

/** True when the job has ended (whatever the outcome): its status will not change any more. */
export function isJobEnded(status: JobStatusV1 | JobStatusV2): boolean {
  return jobOutcome(status) !== 'running';
}
