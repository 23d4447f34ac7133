import type { LlamaCloudFake } from '@callback-gateway/llamacloud/testing';
import { startProcess, startRedisCluster, type TestRedisCluster } from '@callback-gateway/testing';
import { createGatewayClient } from '@callback-gateway/client';
import { storeKeys } from '@callback-gateway/store';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_TOKEN,
  postCallback,
  startStackWithLlamaCloud,
  startTestPipeline,
  until,
  type Stack,
  type TestPipeline,
} from './stack.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
// The processes' layout: 16 partitions by default on a cluster.
const keys = storeKeys('cbgw', { partitions: 16 });
const auth = { authorization: `Bearer ${API_TOKEN}` };
const envelope = (eventId: string, jobId = 'job-cluster') => ({
  event_id: eventId,
  event_type: 'parse.success',
  timestamp: Date.now() / 1000,
  data: { id: jobId, job_id: jobId },
});

// One cluster for the whole suite: it takes seconds to form.
describe('gateway and worker on a Redis Cluster (3 masters, 1 replica each)', () => {
  let cluster: TestRedisCluster;
  let store: Cluster;
  let stack: Stack;
  let pipeline: TestPipeline;
  let fake: LlamaCloudFake;
  const secrets = new Map<string, string>();
  const dropped = new Set<string>();

  beforeAll(async () => {
    cluster = await startRedisCluster();
    store = new Cluster(
      cluster.nodes.map((node) => ({ host: node.host, port: node.port })),
      { lazyConnect: true },
    );
    pipeline = await startTestPipeline((path) => secrets.get(path) ?? 'whsec_missing');
    ({ stack, fake } = await startStackWithLlamaCloud(cluster, {
      dropped,
      env: {
        // Every 202 of this suite waited for a replica.
        GATEWAY_ACK_REPLICAS: '1',
        GATEWAY_ACK_REPLICAS_TIMEOUT_MS: '300',
        STORE_CALLBACK_RETENTION_S: '7200',
        STORE_DEDUP_RETENTION_S: '3600',
      },
    }));
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    await fake?.close();
    await pipeline?.close();
    store?.disconnect();
    await cluster?.close();
  });

  const client = () => createGatewayClient({ baseUrl: stack.gatewayUrl, token: API_TOKEN });
  const register = async (path: string) => {
    const registration = await client().register({ deliverTo: pipeline.url(path) });
    secrets.set(path, registration.deliverySecret);
    return registration;
  };
  const receipts = (path: string) => pipeline.receipts.filter((receipt) => receipt.path === path);

  it(
    'refuses to start with a single-node client pointed at a cluster node: one line, exit 2',
    { timeout: 40_000 },
    async () => {
      const [node] = cluster.nodes;
      if (!node) throw new Error('no node');
      for (const app of ['gateway', 'worker']) {
        const proc = startProcess({
          args: [`${root}apps/${app}/dist/main.js`],
          env: {
            REDIS_URL: node.url,
            [app === 'gateway' ? 'GATEWAY_PORT' : 'WORKER_PORT']: '0',
            LOG_LEVEL: 'warn',
          },
        });
        const exited = new Promise<number | null>((resolve) =>
          // 'close': after its output is read, not only after it exited.
          proc.child.once('close', (exitCode) => resolve(exitCode)),
        );
        const code = await Promise.race([exited, delay(15_000).then(() => 'still running')]);
        if (proc.running) await proc.stop('SIGKILL');
        expect(code).toBe(2);
        const told = proc.lines.filter((line) => line.includes('REDIS_CLUSTER_NODES'));
        expect(told).toHaveLength(1);
        expect(told[0]).toMatch(
          new RegExp(
            `^${app}: Redis at redis://127\\.0\\.0\\.1:${node.port} is a node of a Redis Cluster`,
          ),
        );
      }
    },
  );

  it('runs the webhook-url CLI on the cluster (REDIS_CLUSTER_NODES): reads the URL cache there', async () => {
    await store.set(
      'cbgw:webhook-url:last',
      JSON.stringify({
        baseUrl: 'https://cli-cluster.example.com',
        source: 'cloud_config',
        verifiedBy: 'syntax',
        insecure: false,
        resolvedAt: new Date().toISOString(),
      }),
      'EX',
      60,
    );
    const resolve = async (seeds: string) => {
      const proc = startProcess({
        args: [`${root}libs/webhook-url/dist/cli.js`, 'resolve'],
        env: {
          REDIS_CLUSTER_NODES: seeds,
          WEBHOOK_URL_SOURCES: 'cache',
          WEBHOOK_URL_VERIFY: 'syntax',
        },
      });
      const code = await new Promise<number | null>((done) =>
        proc.child.once('close', (exitCode) => done(exitCode)),
      );
      return { code, json: JSON.parse(proc.lines.join('\n')) as Record<string, unknown> };
    };
    const hit = await resolve(cluster.seeds);
    expect(hit).toMatchObject({
      code: 0,
      json: { ok: true, baseUrl: 'https://cli-cluster.example.com', source: 'cache' },
    });
    const away = await resolve('127.0.0.1:1');
    expect(away.code).toBe(2);
    expect(away.json['reasons']).toEqual([
      expect.objectContaining({ source: 'cache', code: 'WEBHOOK_URL_CACHE_UNAVAILABLE' }),
    ]);
    await store.del('cbgw:webhook-url:last');
  });

  it('registers, takes a callback, answers a duplicate as such, and delivers once', async () => {
    const registration = await register('/docs');
    await client().attachJob(registration.id, 'job-cluster');
    const first = await postCallback(stack, registration.callbackUrl, envelope('evt-1'));
    expect(first.status).toBe(202);
    const again = await postCallback(stack, registration.callbackUrl, envelope('evt-1'));
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ duplicate: true });
    await until(async () => (await client().status(registration.id)).state === 'delivered');
    expect(receipts('/docs')).toHaveLength(1);
    expect(receipts('/docs')[0]?.delivery).toMatchObject({
      type: 'parse.success',
      registrationId: registration.id,
      payload: { event_id: 'evt-1' },
    });
    expect(pipeline.rejected).toEqual([]);
    // Kept as long as STORE_CALLBACK_RETENTION_S and STORE_DEDUP_RETENTION_S say.
    const callbackId = (await client().status(registration.id)).deliveries[0]?.id ?? '';
    const ttl = async (key: string) => Number(await store.ttl(key));
    expect(await ttl(keys.callback(callbackId))).toBeGreaterThan(7_100);
    expect(await ttl(keys.callback(callbackId))).toBeLessThanOrEqual(7_200);
    expect(await ttl(keys.delivery(callbackId))).toBeGreaterThan(7_100);
    expect(await ttl(keys.delivery(callbackId))).toBeLessThanOrEqual(7_200);
    // KEYS on the node of the registration's partition's slot (a cluster client sends it to
    // any one node).
    const [anyNode] = cluster.nodes;
    if (!anyNode) throw new Error('no node');
    const own = keys.of(registration.id);
    const owner = await cluster.masterOfSlot(
      Number(await cluster.command(anyNode, 'CLUSTER', 'KEYSLOT', own.tag)),
    );
    const [dedupKey] = (await cluster.command(owner, 'KEYS', keys.dedup(registration.id, '*')))
      .split('\n')
      .filter(Boolean);
    expect(await ttl(dedupKey ?? '')).toBeGreaterThan(3_500);
    expect(await ttl(dedupKey ?? '')).toBeLessThanOrEqual(3_600);
  });

  it('retries, dead-letters, and replays a delivery; the dashboard counts it', async () => {
    let healthy = false;
    pipeline.on('/flaky', () => ({ status: healthy ? 200 : 500 }));
    const registration = await register('/flaky');
    await postCallback(stack, registration.callbackUrl, envelope('evt-dl', 'job-flaky'));
    let deadLetterId = '';
    await until(async () => {
      const list = (await (
        await fetch(`${stack.gatewayUrl}/v1/deliveries?state=dead_lettered`, { headers: auth })
      ).json()) as { deliveries: { id: string; registration_id: string }[] };
      deadLetterId =
        list.deliveries.find((entry) => entry.registration_id === registration.id)?.id ?? '';
      return deadLetterId !== '';
    });
    const summary = (await (
      await fetch(`${stack.gatewayUrl}/v1/dashboard/summary`, { headers: auth })
    ).json()) as {
      deliveries: Record<string, number>;
      dead_letters: { total: number; items: { id: string }[] };
      processes: { gateways: number; workers: number };
    };
    expect(summary.dead_letters.total).toBe(1);
    expect(summary.dead_letters.items.map((item) => item.id)).toEqual([deadLetterId]);
    expect(summary.processes).toEqual({ gateways: 1, workers: 1 });
    expect(summary.deliveries['delivered']).toBeGreaterThanOrEqual(1);
    // Memory of every primary, for the headroom alert.
    const metrics = await (await fetch(`${stack.gatewayUrl}/metrics`)).text();
    const used = metrics.match(/^cbgw_redis_memory_used_bytes\{[^}]*node="127\.0\.0\.1:\d+"/gm);
    expect(used).toHaveLength(3);

    healthy = true;
    const replay = await fetch(`${stack.gatewayUrl}/v1/deliveries/${deadLetterId}/replay`, {
      method: 'POST',
      headers: auth,
    });
    expect(replay.status).toBe(202);
    await until(() => receipts('/flaky').length === 1);
    await until(async () => (await client().status(registration.id)).state === 'delivered');
  });

  it('delivers, through reconciliation, a result whose callback was dropped', async () => {
    const response = await fetch(`${stack.gatewayUrl}/v1/parse`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        source_url: 'https://docs.example.com/doc.pdf',
        deliver_to: pipeline.url('/dropped'),
        expect_callback_within_s: 1,
      }),
    });
    const { id } = (await response.json()) as { id: string };
    let view = { state: '', registration_id: '', parse_job_id: '' };
    await until(async () => {
      view = (await (
        await fetch(`${stack.gatewayUrl}/v1/parse/${id}`, { headers: auth })
      ).json()) as typeof view;
      return view.state === 'submitted';
    });
    secrets.set(
      '/dropped',
      (await store.hget(keys.registration(view.registration_id), 'delivery_secret')) ?? '',
    );
    dropped.add(view.parse_job_id);
    fake.complete(view.parse_job_id);
    await until(() => receipts('/dropped').length === 1);
    expect(receipts('/dropped')[0]?.delivery).toMatchObject({
      parseJobId: view.parse_job_id,
      reconciled: true,
    });
    // The worker stores the reconciled callback for STORE_CALLBACK_RETENTION_S.
    const webhookId = receipts('/dropped')[0]?.delivery.webhookId ?? '';
    expect(Number(await store.ttl(keys.callback(webhookId)))).toBeLessThanOrEqual(7_200);
    expect(Number(await store.ttl(keys.callback(webhookId)))).toBeGreaterThan(7_100);
  });

  it(
    'spreads 1,000 registrations over the masters: keys and commands within 25 % of a third each',
    { timeout: 120_000 },
    async () => {
      const { masters } = await cluster.roles();
      expect(masters).toHaveLength(3);
      const commands = async (node: (typeof masters)[number]) => {
        const info = await cluster.command(node, 'INFO', 'commandstats');
        let calls = 0;
        for (const match of info.matchAll(/calls=(\d+)/g)) calls += Number(match[1]);
        return calls;
      };
      const keyCount = async (node: (typeof masters)[number]) =>
        Number(await cluster.command(node, 'DBSIZE'));
      const [keysBefore, callsBefore] = await Promise.all([
        Promise.all(masters.map(keyCount)),
        Promise.all(masters.map(commands)),
      ]);
      // A path each: the pipeline checks each registration's own delivery secret.
      const registrations: { id: string; callbackUrl: string }[] = [];
      for (let from = 0; from < 1_000; from += 25) {
        registrations.push(
          ...(await Promise.all(
            Array.from({ length: 25 }, (_, i) => register(`/spread/${from + i}`)),
          )),
        );
      }
      for (let from = 0; from < registrations.length; from += 25) {
        await Promise.all(
          registrations.slice(from, from + 25).map(async (registration, i) => {
            const answer = await postCallback(stack, registration.callbackUrl, {
              ...envelope(`evt-spread-${from + i}`, `job-spread-${from + i}`),
              event_type: 'parse.running',
            });
            expect(answer.status).toBe(202);
          }),
        );
      }
      const spread = () =>
        pipeline.receipts.filter((receipt) => receipt.path.startsWith('/spread/')).length;
      await until(() => spread() === 1_000, 60_000);
      expect(pipeline.rejected).toEqual([]);
      const [keysAfter, callsAfter] = await Promise.all([
        Promise.all(masters.map(keyCount)),
        Promise.all(masters.map(commands)),
      ]);
      const shares = (before: number[], after: number[]) => {
        const grown = after.map((value, i) => value - (before[i] ?? 0));
        const total = grown.reduce((sum, value) => sum + value, 0);
        return grown.map((value) => value / total);
      };
      const keyShares = shares(keysBefore, keysAfter);
      const commandShares = shares(callsBefore, callsAfter);
      for (const share of [...keyShares, ...commandShares]) {
        expect(share).toBeGreaterThanOrEqual((1 / 3) * 0.75);
        expect(share).toBeLessThanOrEqual((1 / 3) * 1.25);
      }
      process.stdout.write(
        `spread over 3 masters: keys ${keyShares.map((share) => share.toFixed(3)).join(' ')}, commands ${commandShares.map((share) => share.toFixed(3)).join(' ')}\n`,
      );
    },
  );

  // Last: it takes a replica away for a while.
  it('answers 503 not_replicated with Retry-After while the replica is away, then a duplicate', async () => {
    const [anyNode] = cluster.nodes;
    if (!anyNode) throw new Error('no node');
    const registration = await register('/replicated');
    const slot = Number(
      await cluster.command(anyNode, 'CLUSTER', 'KEYSLOT', keys.of(registration.id).ingest),
    );
    const replica = await cluster.replicaOf(await cluster.masterOfSlot(slot));
    if (!replica) throw new Error('the partition slot has no replica');
    await replica.kill();
    const refused = await postCallback(stack, registration.callbackUrl, envelope('evt-r', 'job-r'));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toMatchObject({ error: 'not_replicated' });

    await replica.start();
    await until(async () =>
      /master_link_status:up/.test(await cluster.command(replica, 'INFO', 'replication')),
    );
    // The parser's retry: stored the first time on the primary, so a duplicate now.
    const retried = await postCallback(stack, registration.callbackUrl, envelope('evt-r', 'job-r'));
    expect(retried.status).toBe(200);
    expect(await retried.json()).toMatchObject({ duplicate: true });
    await until(() => receipts('/replicated').length === 1);
  });
});
