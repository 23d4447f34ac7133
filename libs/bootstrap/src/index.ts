export {
  redisReadiness,
  startProcessBasics,
  type ProcessBasics,
  type ProcessBasicsOptions,
  type ProcessBasicsSettings,
} from './process-basics.js';
export {
  startPublicUrlResolver,
  type PublicUrlResolverOptions,
  type StartingPublicUrlResolver,
} from './public-url.js';
export {
  createQueueErrorReporter,
  type ErrorEmitter,
  type QueueErrorReporterOptions,
} from './queue-errors.js';
export {
  watchSupervisor,
  type SupervisedProcess,
  type SupervisorMessage,
  type WatchSupervisorOptions,
} from './supervisor.js';
