import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type TestRedisCluster } from './redis-cluster.js';

describe('startRedisCluster', () => {
  let cluster: TestRedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.close();
  });

  it('starts 3 masters with 1 replica each, every slot served', async () => {
    const { masters, replicas } = await cluster.roles();
    expect(masters).toHaveLength(3);
    expect(replicas).toHaveLength(3);
    const [first] = masters;
    if (!first) throw new Error('no master');
    const info = await cluster.command(first, 'CLUSTER', 'INFO');
    expect(info).toMatch(/cluster_state:ok/);
    expect(info).toMatch(/cluster_slots_assigned:16384/);
    for (const master of masters) {
      const replica = await cluster.replicaOf(master);
      expect(replica && masters.includes(replica)).toBe(false);
    }
  });

  it('serves keys of different slots through a cluster client', async () => {
    const client = new Cluster(
      cluster.seeds.split(',').map((seed) => {
        const [host = '', port] = seed.split(':');
        return { host, port: Number(port) };
      }),
    );
    try {
      for (const key of ['a', 'b', 'c', 'd', 'e']) await client.set(key, key);
      expect(await client.mget('{t}a', '{t}b')).toEqual([null, null]);
      expect(await client.get('c')).toBe('c');
      const [anyNode] = cluster.nodes;
      if (!anyNode) throw new Error('no node');
      const slot = Number(await cluster.command(anyNode, 'CLUSTER', 'KEYSLOT', 'c'));
      const owner = await cluster.masterOfSlot(slot);
      expect((await cluster.command(owner, 'GET', 'c')).trim()).toBe('c');
    } finally {
      client.disconnect();
    }
  });

  it('stops exactly its own processes on close', async () => {
    const other = await startRedisCluster({ masters: 3, replicasPerMaster: 0 });
    await other.close();
    expect(other.nodes.every((node) => !node.running)).toBe(true);
    expect(cluster.nodes.every((node) => node.running)).toBe(true);
    await cluster.waitUntilOk(5_000);
  }, 60_000);
});
