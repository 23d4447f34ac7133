import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort, startRedis, type TestRedis } from './redis.js';

const run = promisify(execFile);

/** Options for {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** @defaultValue 3 */
  masters?: number;
  /** @defaultValue 1 */
  replicasPerMaster?: number;
  /**
   * How long a node may be unreachable before the others count it as failed (a replica then
   * takes over its slots). Short, so failover tests stay short.
   * @defaultValue 2_000
   */
  nodeTimeoutMs?: number;
  /** Append-only file fsynced on every write on every node. @defaultValue false */
  persistent?: boolean;
  /** Extra `redis-server` arguments for every node. */
  args?: readonly string[];
  /** How long to wait for `cluster_state:ok` after creating or changing it. @defaultValue 30_000 */
  readyTimeoutMs?: number;
}

/** One node of a {@link TestRedisCluster}: a {@link TestRedis} (stop, kill, start). */
export type TestClusterNode = TestRedis;

/** A throwaway Redis Cluster on loopback, owned by one test suite. */
export interface TestRedisCluster {
  /** Every node, masters first as created (roles change after a failover: ask {@link roles}). */
  readonly nodes: readonly TestClusterNode[];
  /** `127.0.0.1:<port>,...` of every node: the value of `REDIS_CLUSTER_NODES`. */
  readonly seeds: string;
  /** Runs one command on one node (through `redis-cli`) and returns its raw reply. */
  command(node: TestClusterNode, ...args: string[]): Promise<string>;
  /** The current masters and replicas, from `CLUSTER NODES` of a running node. */
  roles(): Promise<{ masters: TestClusterNode[]; replicas: TestClusterNode[] }>;
  /** The node serving a slot as master (waits, up to `readyTimeoutMs`, while none does). */
  masterOfSlot(slot: number): Promise<TestClusterNode>;
  /** The replica of a master (its first, when several). */
  replicaOf(master: TestClusterNode): Promise<TestClusterNode | undefined>;
  /** Resolves once every running node reports `cluster_state:ok` and agrees on the masters. */
  waitUntilOk(timeoutMs?: number): Promise<void>;
  /** Stops every node it started and removes their data directories. Idempotent. */
  close(): Promise<void>;
}

interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string;
  slots: [number, number][];
}

function parseClusterNodes(text: string): NodeLine[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [id = '', address = '', flags = '', masterId = '', , , , , ...slotRanges] =
        line.split(' ');
      const port = Number(address.split('@')[0]?.split(':').pop());
      const slots = slotRanges
        .filter((range) => !range.startsWith('['))
        .map((range): [number, number] => {
          const [from, to] = range.split('-').map(Number);
          return [from ?? 0, to ?? from ?? 0];
        });
      return { id, port, flags: flags.split(','), masterId, slots };
    });
}

/**
 * Starts a Redis Cluster on free loopback ports: `masters` nodes with `replicasPerMaster`
 * replicas each (`redis-server --cluster-enabled yes`), joined with
 * `redis-cli --cluster create --cluster-replicas N --cluster-yes`, and waits for
 * `cluster_state:ok`. It takes seconds: start it once per suite, and `close()` it in `afterAll`.
 * It stops only the processes it started.
 */
export async function startRedisCluster(
  options: StartRedisClusterOptions = {},
): Promise<TestRedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 1;
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const nodeArgs = [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    String(options.nodeTimeoutMs ?? 2_000),
    ...(options.args ?? []),
  ];
  // Each node's cluster bus port is a free port too (by default it is its port + 10000: a
  // port nobody checked, which another test's process may have just been given).
  const started = await Promise.allSettled(
    Array.from({ length: masters * (1 + replicas) }, async () =>
      startRedis({
        args: [...nodeArgs, '--cluster-port', String(await freePort())],
        persistent: options.persistent ?? false,
      }),
    ),
  );
  const nodes = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const closeAll = () => Promise.all(nodes.map((node) => node.close()));
  const failed = started.find((result) => result.status === 'rejected');
  if (failed) {
    await closeAll();
    throw (failed as PromiseRejectedResult).reason;
  }

  const command = async (node: TestClusterNode, ...args: string[]): Promise<string> => {
    const { stdout } = await run('redis-cli', ['-h', node.host, '-p', String(node.port), ...args], {
      timeout: 10_000,
    });
    return stdout;
  };
  const byPort = (port: number) => nodes.find((node) => node.port === port);
  const layout = async (): Promise<NodeLine[]> => {
    const live = nodes.find((node) => node.running);
    if (!live) throw new Error('no node of the test cluster is running');
    return parseClusterNodes(await command(live, 'CLUSTER', 'NODES'));
  };

  const waitUntilOk = async (timeoutMs = readyTimeoutMs): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      try {
        const live = nodes.filter((node) => node.running);
        const infos = await Promise.all(live.map((node) => command(node, 'CLUSTER', 'INFO')));
        const views = await Promise.all(
          live.map(async (node) =>
            parseClusterNodes(await command(node, 'CLUSTER', 'NODES'))
              .filter((line) => line.flags.includes('master') && !line.flags.includes('fail'))
              .filter((line) => line.slots.length > 0)
              .map((line) => `${line.port}:${JSON.stringify(line.slots)}`)
              .sort()
              .join(' '),
          ),
        );
        last = infos.map((info) => /cluster_state:(\w+)/.exec(info)?.[1]).join(',');
        if (infos.every((info) => info.includes('cluster_state:ok')) && new Set(views).size === 1) {
          return;
        }
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
      await delay(100);
    }
    throw new Error(`the test cluster did not reach cluster_state:ok in ${timeoutMs} ms (${last})`);
  };

  try {
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((node) => `${node.host}:${node.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { timeout: readyTimeoutMs },
    );
    await waitUntilOk();
    // Every replica attached and in sync, so a failover test starts from a replicated state.
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      const lines = await layout();
      const synced = await Promise.all(
        lines
          .filter((line) => line.flags.includes('slave'))
          .map(async (line) => {
            const node = byPort(line.port);
            return node
              ? /master_link_status:up/.test(await command(node, 'INFO', 'replication'))
              : false;
          }),
      );
      if (synced.length === masters * replicas && synced.every(Boolean)) break;
      if (Date.now() > deadline) throw new Error('the replicas of the test cluster did not sync');
      await delay(100);
    }
  } catch (error) {
    await closeAll();
    throw error;
  }

  const roles: TestRedisCluster['roles'] = async () => {
    const lines = await layout();
    const pick = (flag: string) =>
      lines
        .filter((line) => line.flags.includes(flag) && !line.flags.includes('fail'))
        .flatMap((line) => {
          const node = byPort(line.port);
          return node ? [node] : [];
        });
    return { masters: pick('master'), replicas: pick('slave') };
  };

  let closing: Promise<void> | undefined;
  return {
    nodes,
    seeds: nodes.map((node) => `${node.host}:${node.port}`).join(','),
    command,
    roles,
    async masterOfSlot(slot) {
      // In a failover, a node's view can show the slot's master gone before its successor is
      // in (gossip takes a moment): asked again for a while before that is the answer.
      const deadline = Date.now() + readyTimeoutMs;
      for (;;) {
        const line = (await layout()).find(
          (entry) =>
            entry.flags.includes('master') &&
            !entry.flags.includes('fail') &&
            entry.slots.some(([from, to]) => slot >= from && slot <= to),
        );
        const node = line && byPort(line.port);
        if (node) return node;
        if (Date.now() > deadline) {
          throw new Error(`no master serves slot ${slot} after ${readyTimeoutMs} ms`);
        }
        await delay(100);
      }
    },
    async replicaOf(master) {
      const lines = await layout();
      const id = lines.find((line) => line.port === master.port)?.id;
      const line = lines.find((entry) => entry.masterId === id && !entry.flags.includes('fail'));
      return line && byPort(line.port);
    },
    waitUntilOk,
    close() {
      closing ??= closeAll().then(() => undefined);
      return closing;
    },
  };
}
