import { describe, expect, it } from 'vitest';
import { clusterFailover } from './scenarios-cluster.js';

// The short size; `npm run chaos -- cluster-failover cluster-failover-no-wait` runs the full one
// and, without the replica wait, reports how many acknowledged callbacks a failover lost.
describe('Redis Cluster failover under load, short size', () => {
  it(
    'loses no acknowledged callback with GATEWAY_ACK_REPLICAS=1 through a forced failover and a master SIGKILL',
    { timeout: 240_000 },
    async () => {
      const result = await clusterFailover(1)('short');
      expect(result.accounting.acknowledged).toBeGreaterThan(0);
      // On a failure, what the jobs of the unresolved deliveries were (describeUnresolved).
      expect(result.unresolvedStates, JSON.stringify(result.observations)).toEqual({});
      expect(result.accounting.lost).toBe(0);
      expect(result.accounting.acknowledgedThenLost).toBe(0);
      expect(result.observations['rejectedSignatures']).toBe(0);
    },
  );
});
