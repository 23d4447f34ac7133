export {
  SettingsError,
  checkHostOrCidr,
  parseAllowEntry,
  type AllowEntry,
  envBool,
  envEnum,
  envInt,
  envList,
  envOptionalInt,
  envOptionalUrl,
  maskUrlCredentials,
  envSecret,
  envString,
  envUrl,
  parseSettings,
  type ParseSettingsOptions,
} from './settings.js';
export { backoffDelay, type BackoffJitter, type BackoffOptions } from './backoff.js';
export { systemClock, unrefTimer, type Clock, type TimerHandle } from './clock.js';
export {
  RedisSettingError,
  connectRedis,
  describeRedisTarget,
  describeRedisUrl,
  createRedisClient,
  parseClusterNode,
  unixSocketOptions,
  type ConnectRedisOptions,
  type RedisClient,
  type RedisTarget,
  type RedisRole,
  type SupervisedRedis,
} from './redis.js';
export {
  handleShutdownSignals,
  readiness,
  type ReadinessCheck,
  type ReadinessReport,
  type ShutdownOptions,
} from './lifecycle.js';
export { createMetricsRegistry } from './metrics.js';
export {
  readRedisMemory,
  registerRedisMemoryMetrics,
  type RedisNodeMemory,
} from './redis-memory-metrics.js';
export { OWNED_PREFIXES, SETTING_NAMES, type SettingName } from './setting-names.js';
export { startHeartbeat, type Heartbeat, type HeartbeatOptions } from './heartbeat.js';
export {
  checkRedisTarget,
  commonSettingsShape,
  exitOnSettingError,
  loadSettingsOrExit,
  redisTargetOf,
  storePartitionsOf,
} from './common-settings.js';
