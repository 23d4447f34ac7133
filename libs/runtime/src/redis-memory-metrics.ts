import { Cluster } from 'ioredis';
import { Gauge, type Registry } from 'prom-client';
import type { RedisClient } from './redis.js';

/** `used_memory` and `maxmemory` of `INFO memory`. */
function memoryOf(info: string): { used: number; max: number } | undefined {
  const used = /^used_memory:(\d+)/m.exec(info)?.[1];
  const max = /^maxmemory:(\d+)/m.exec(info)?.[1];
  return used === undefined || max === undefined
    ? undefined
    : { used: Number(used), max: Number(max) };
}

/** The memory of the Redis the store lives on, per node (every primary of a cluster). */
export interface RedisNodeMemory {
  node: string;
  /** `used_memory` (bytes). */
  used: number;
  /** `maxmemory` (bytes; 0: none set). */
  max: number;
}

/**
 * `INFO memory` of the Redis (or of every primary of a cluster) the store lives on. A node
 * that does not answer is left out.
 */
export async function readRedisMemory(redis: RedisClient): Promise<RedisNodeMemory[]> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const answers = await Promise.all(
    nodes.map(async (node) => {
      try {
        const memory = memoryOf(await node.info('memory'));
        const { host, port } = node.options;
        return memory
          ? [{ node: redis instanceof Cluster ? `${host}:${port}` : 'redis', ...memory }]
          : [];
      } catch {
        return [];
      }
    }),
  );
  return answers.flat();
}

/**
 * `cbgw_redis_memory_used_bytes{node}` and `cbgw_redis_memory_max_bytes{node}`, read with
 * {@link readRedisMemory} at each scrape: the memory headroom alert needs no Redis exporter. A
 * node that does not answer within the scrape is left out (its series goes stale, as a dead
 * exporter's would).
 */
export function registerRedisMemoryMetrics(registry: Registry, redis: RedisClient): void {
  const read = () => readRedisMemory(redis);
  let pending: ReturnType<typeof read> | undefined;
  // Both gauges of one scrape share one INFO per node.
  const once = () => {
    pending ??= read().finally(() => setTimeout(() => (pending = undefined), 100).unref());
    return pending;
  };
  new Gauge({
    name: 'cbgw_redis_memory_used_bytes',
    help: 'Memory Redis uses (INFO memory used_memory), per primary.',
    labelNames: ['node'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const { node, used } of await once()) this.set({ node }, used);
    },
  });
  new Gauge({
    name: 'cbgw_redis_memory_max_bytes',
    help: 'The memory limit of Redis (INFO memory maxmemory; 0: none set), per primary.',
    labelNames: ['node'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const { node, max } of await once()) this.set({ node }, max);
    },
  });
}
