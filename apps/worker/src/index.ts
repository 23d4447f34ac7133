// The worker as a library, for starting it in-process (tests, chaos, bench); `main.ts` is the
// process entry point.
export { loadWorkerConfig, workerSettingsSchema, type WorkerConfig } from './config.js';
export { startWorker, type StartWorkerDeps, type StartedWorker } from './start.js';
