import { describe, expect, it } from 'vitest';
import type { ScenarioResult } from './harness.js';
import { deadLetterReplay, hangingPipeline, pipelineDown } from './scenarios-pipeline.js';
import { redisRestart } from './scenarios-process.js';

// Short sizes of the Redis and pipeline faults (a second file, so the two run side by side).
const expectZeroLoss = (result: ScenarioResult) => {
  expect(result.unresolvedStates).toEqual({});
  expect(result.accounting.lost).toBe(0);
  expect(result.accounting.acknowledgedThenLost).toBe(0);
  expect(result.accounting.acknowledged).toBeGreaterThan(0);
  // No secret in any log line or audit record of the run (the scan read them all).
  expect(result.observations['auditRecordsScanned']).toBeGreaterThan(0);
  expect(result.observations['secretsFoundKinds']).toBeUndefined();
  expect(result.observations['secretsFound']).toBe(0);
};

describe('Redis and pipeline faults, short sizes', () => {
  it('answers 503 while Redis is away, 202 again after, and loses nothing, with no process restarted', async () => {
    const result = await redisRestart('short');
    expect(result.observations['unavailableWhileAway']).toBeGreaterThan(0);
    expect(result.observations['acceptedAfterRecovery']).toBeGreaterThan(0);
    expect(result.observations['sameProcesses']).toBe(true);
    expect(result.observations['readyAfter']).toBe('200/200');
    expectZeroLoss(result);
  });

  it('delivers everything after the pipeline was down for 10 s, in retry order, nothing dead-lettered', async () => {
    const result = await pipelineDown('short');
    expectZeroLoss(result);
    expect(result.accounting.deadLettered).toBe(0);
    expect(result.accounting.delivered).toBe(result.accounting.acknowledged);
    // The order is measured over the backlog: most of the load came due while it was down.
    expect(result.observations['deliveredAfterBack']).toBeGreaterThan(50);
    // No delivery overtaken by as many later-due ones as the worker runs side by side.
    expect(result.observations['mostOvertaken']).toBeLessThan(50);
    expect(result.observations['inRetryOrder']).toBe(true);
  });

  it('dead-letters what outlives the retry schedule, and one bulk replay delivers it all', async () => {
    const result = await deadLetterReplay('short');
    expect(result.observations['deadLetteredBeforeReplay']).toBe(result.accounting.acknowledged);
    expect(result.observations['replayed']).toBe(result.accounting.acknowledged);
    expectZeroLoss(result);
    expect(result.accounting.delivered).toBe(result.accounting.acknowledged);
  });

  it('times out a hanging pipeline, opens its breaker, and keeps the healthy one flowing', async () => {
    const result = await hangingPipeline('short');
    expect(result.observations['breakerOpened']).toBeGreaterThan(0);
    expect(result.observations['healthyDuringHang']).toBeGreaterThan(0);
    expect(result.observations['healthyMaxMs']).toBeLessThan(3_000);
    expectZeroLoss(result);
    expect(result.accounting.delivered).toBe(result.accounting.acknowledged);
  });
});
