import type { ScenarioResult, ScenarioSize } from './harness.js';
import { clusterFailover } from './scenarios-cluster.js';
import { hostileFlood, mixedFleet } from './scenarios-hostile.js';
import { deadLetterReplay, hangingPipeline, pipelineDown } from './scenarios-pipeline.js';
import { gatewayKill, redisAtStartup, redisRestart, workerKill } from './scenarios-process.js';
import { tunnelDrop } from './scenarios-tunnel.js';

export type { ScenarioResult, ScenarioSize } from './harness.js';

/** Every scenario, in the order `npm run chaos` runs them. */
export const SCENARIOS: Readonly<Record<string, (size: ScenarioSize) => Promise<ScenarioResult>>> =
  {
    'worker-kill': workerKill,
    'redis-restart': redisRestart,
    'redis-at-startup': redisAtStartup,
    'pipeline-down': pipelineDown,
    'dead-letter-replay': deadLetterReplay,
    'hanging-pipeline': hangingPipeline,
    'gateway-kill': gatewayKill,
    'tunnel-drop': tunnelDrop,
    'hostile-flood': hostileFlood,
    'mixed-fleet': mixedFleet,
    'cluster-failover': clusterFailover(1),
    'cluster-failover-no-wait': clusterFailover(0),
  };
