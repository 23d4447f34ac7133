export { freePort, startRedis, type StartRedisOptions, type TestRedis } from './redis.js';
export { startProcess, type StartProcessOptions, type WatchedProcess } from './process.js';
export { waitForHttp } from './http.js';
export { promtoolCheckMetrics } from './promtool.js';
export { startAppStack, type AppStack, type AppStackOptions } from './app-stack.js';
export {
  startRedisCluster,
  type StartRedisClusterOptions,
  type TestClusterNode,
  type TestRedisCluster,
} from './redis-cluster.js';
