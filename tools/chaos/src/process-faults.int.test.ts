import { describe, expect, it } from 'vitest';
import type { ScenarioResult } from './harness.js';
import { gatewayKill, redisAtStartup, workerKill } from './scenarios-process.js';

// Short sizes of the process faults; `npm run chaos` runs the full ones.
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

describe('process faults, short sizes', () => {
  it('loses no acknowledged callback when the worker is SIGKILLed under load and restarted', async () => {
    const result = await workerKill('short');
    expectZeroLoss(result);
    expect(result.accounting.delivered).toBe(result.accounting.acknowledged);
    expect(result.observations['rejectedSignatures']).toBe(0);
  });

  it('gives no 2xx for a callback it then loses when the gateway is SIGKILLed under load', async () => {
    const result = await gatewayKill('short');
    expectZeroLoss(result);
    // The senders noticed the outage: errors, not acknowledgements.
    expect(result.accounting.errors).toBeGreaterThan(0);
    expect(result.accounting.delivered).toBe(result.accounting.acknowledged);
  });

  it('stays up without Redis at start-up, reports not ready, and becomes ready when it appears', async () => {
    const result = await redisAtStartup('short');
    expect(result.observations['stayedUp']).toBe(true);
    // gateway /healthz, /readyz, worker /healthz, /readyz while Redis was away
    expect(result.observations['whileAway']).toBe('200/503/200/503');
    expect(result.observations['readyAfterMs']).toBeLessThan(10_000);
    expectZeroLoss(result);
  });
});
