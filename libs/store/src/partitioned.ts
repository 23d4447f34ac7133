import type { Cluster, Redis } from 'ioredis';
import type { StoreKeys } from './keys.js';

/**
 * A sorted set every partition has (waiting, overdue, ...), read over all of them: its total
 * size, and the `limit` members with the lowest scores (the earliest deadlines), in order.
 */
export async function readAcrossPartitions(
  redis: Redis | Cluster,
  keys: StoreKeys,
  keyOf: (partition: StoreKeys) => string,
  limit: number,
): Promise<{ total: number; ids: string[] }> {
  const per = await Promise.all(
    keys.all.map(async (own) => {
      const key = keyOf(own);
      const [size, flat] = await Promise.all([
        redis.zcard(key),
        limit > 0 ? redis.zrange(key, 0, limit - 1, 'WITHSCORES') : Promise.resolve([]),
      ]);
      return { size, flat };
    }),
  );
  const scored: [id: string, score: number][] = [];
  let total = 0;
  for (const { size, flat } of per) {
    total += size;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      scored.push([flat[i] as string, Number(flat[i + 1])]);
    }
  }
  const ids = scored
    .sort((a, b) => a[1] - b[1])
    .slice(0, Math.max(0, limit))
    .map(([id]) => id);
  return { total, ids };
}
