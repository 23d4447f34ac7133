import { describe, expect, it } from 'vitest';
import type { ScenarioResult } from './harness.js';
import { hostileFlood, mixedFleet } from './scenarios-hostile.js';

// Short sizes of the hostile-client and bad-pipeline scenarios (a file of their own, so they
// run beside the others).
const expectZeroLoss = (result: ScenarioResult) => {
  expect(result.unresolvedStates).toEqual({});
  expect(result.accounting.lost).toBe(0);
  expect(result.accounting.acknowledgedThenLost).toBe(0);
  expect(result.accounting.acknowledged).toBeGreaterThan(0);
  expect(result.observations['secretsFound']).toBe(0);
};

describe('one hostile client or one bad pipeline, short sizes', () => {
  it('takes normal traffic through a flood of unknown tokens, held bodies and forged signatures', async () => {
    const result = await hostileFlood('short');
    expectZeroLoss(result);
    expect(result.accounting.delivered).toBe(result.accounting.acknowledged);
    expect(result.observations['unknownToken404s']).toBeGreaterThan(100);
    expect(result.observations['forgedSignature401s']).toBeGreaterThan(50);
    expect(result.observations['heldBodyConnections']).toBeGreaterThanOrEqual(30);
    // Unauthenticated noise is aggregated per address, not a record each.
    // Healthy traffic's p99 stays near the run without the flood (generous here: CI shares its
    // cores with other suites; docs/reliability.md has the full-size figures).
    expect(Number(result.observations['floodedP99Ms'])).toBeLessThan(
      Math.max(3 * Number(result.observations['baselineP99Ms']), 2_000),
    );
    expect(result.observations['auditRejectedRecords']).toBeLessThan(
      Number(result.observations['forgedSignatures']) + 20,
    );
    expect(result.observations['gatewayPeakRssMiB']).toBeLessThan(250);
    expect(result.observations['workerPeakRssMiB']).toBeLessThan(250);
  });

  it('keeps healthy pipelines flowing beside a failing path, a hung origin and 150 MB answers', async () => {
    const result = await mixedFleet('short');
    expectZeroLoss(result);
    expect(result.accounting.delivered).toBe(result.accounting.acknowledged);
    expect(result.observations['breakerOpened']).toBeGreaterThan(0);
    expect(Number(result.observations['faultyP99Ms'])).toBeLessThan(
      Math.max(3 * Number(result.observations['baselineP99Ms']), 2_000),
    );
    expect(result.observations['gatewayPeakRssMiB']).toBeLessThan(250);
    expect(result.observations['workerPeakRssMiB']).toBeLessThan(250);
  });
});
