import { describe, expect, it } from 'vitest';
import { isJobEnded, jobOutcome } from './job-outcome.js';
import { JOB_STATUSES_V1, JOB_STATUSES_V2 } from './wire.js';

describe('jobOutcome', () => {
  it.each([
    ['PENDING', 'running'],
    ['RUNNING', 'running'],
    ['SUCCESS', 'succeeded'],
    ['COMPLETED', 'succeeded'],
    ['PARTIAL_SUCCESS', 'partial'],
    ['ERROR', 'failed'],
    ['FAILED', 'failed'],
    ['CANCELLED', 'cancelled'],
  ] as const)('maps %s to %s', (status, outcome) => {
    expect(jobOutcome(status)).toBe(outcome);
  });

  it('covers every v1 and v2 status, and only running ones are not ended', () => {
    for (const status of [...JOB_STATUSES_V1, ...JOB_STATUSES_V2]) {
      expect(jobOutcome(status)).toBeDefined();
      expect(isJobEnded(status)).toBe(status !== 'PENDING' && status !== 'RUNNING');
    }
  });
});
