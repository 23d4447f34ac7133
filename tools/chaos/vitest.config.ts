import { projectTestConfig } from '../../vitest.shared.js';

// The two scenario files mostly wait (for outages, retries, BullMQ's stalled-job check): run them
// side by side even on two cores, so the short sizes add about a minute to the test run.
export default projectTestConfig({ testTimeout: 120_000, hookTimeout: 120_000, maxWorkers: 2 });
