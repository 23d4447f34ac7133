import { describe, expect, it } from 'vitest';
import { isJobEnded, jobOutcome, type JobOutcome } from './job-outcome.js';
import {
  JOB_STATUSES_V1,
  JOB_STATUSES_V2,
  type JobStatusV1,
  type JobStatusV2,
} from './responses.js';

/** The outcome of each status, as the TSDoc of `JobOutcome` states it. */
const EXPECTED: Record<JobStatusV1 | JobStatusV2, JobOutcome> = {
  PENDING: 'running',
  RUNNING: 'running',
  SUCCESS: 'succeeded',
  COMPLETED: 'succeeded',
  PARTIAL_SUCCESS: 'partial',
  ERROR: 'failed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
};

describe('jobOutcome', () => {
  it.each(Object.entries(EXPECTED))('maps %s to %s', (status, outcome) => {
    expect(jobOutcome(status as JobStatusV1 | JobStatusV2)).toBe(outcome);
  });

  it('has an expected outcome for every v1 and v2 status the wire format knows', () => {
    const statuses = new Set([...JOB_STATUSES_V1, ...JOB_STATUSES_V2]);
    expect(Object.keys(EXPECTED).sort()).toEqual([...statuses].sort());
    for (const status of statuses) expect(jobOutcome(status)).toBe(EXPECTED[status]);
  });

  it('counts a job as ended in every status but PENDING and RUNNING', () => {
    for (const status of [...JOB_STATUSES_V1, ...JOB_STATUSES_V2]) {
      expect(isJobEnded(status)).toBe(status !== 'PENDING' && status !== 'RUNNING');
    }
  });
});
