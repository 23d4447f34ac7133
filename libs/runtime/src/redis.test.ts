import { Writable } from 'node:stream';
import { createLogger } from '@callback-gateway/audit';
import { freePort, startRedis, type TestRedis } from '@callback-gateway/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readiness } from './lifecycle.js';
import { createMetricsRegistry } from './metrics.js';
import { Cluster } from 'ioredis';
import { commonSettingsShape, redisTargetOf } from './common-settings.js';
import {
  connectRedis,
  createRedisClient,
  describeRedisUrl,
  parseClusterNode,
  unixSocketOptions,
  type SupervisedRedis,
} from './redis.js';

function captureLogger() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: createLogger({ name: 'test', destination }) };
}

describe('REDIS_CLUSTER_NODES', () => {
  const parse = (value: string) =>
    commonSettingsShape.REDIS_CLUSTER_NODES.safeParse(value === '' ? undefined : value);

  it('takes host:port seeds and refuses anything else', () => {
    expect(parse('10.0.0.1:7000, redis-0.redis:6379,[fd00::1]:7001').data).toEqual([
      '10.0.0.1:7000',
      'redis-0.redis:6379',
      '[fd00::1]:7001',
    ]);
    expect(parseClusterNode('[fd00::1]:7001')).toEqual({ host: 'fd00::1', port: 7001 });
    expect(parse('redis://10.0.0.1:7000').success).toBe(false);
    expect(parse('10.0.0.1').success).toBe(false);
    expect(parse('10.0.0.1:70000').success).toBe(false);
  });

  it('makes a Cluster client with the credentials and TLS of REDIS_URL', () => {
    const target = redisTargetOf({
      REDIS_URL: 'rediss://app:s3cret%21@ignored.example:6380',
      REDIS_CLUSTER_NODES: ['10.0.0.1:7000', '10.0.0.2:7000'],
    });
    const client = createRedisClient(target, { lazyConnect: true, enableOfflineQueue: false });
    try {
      expect(client).toBeInstanceOf(Cluster);
      const options = (client as Cluster).options;
      expect(options.enableOfflineQueue).toBe(false);
      expect(options.redisOptions).toMatchObject({
        username: 'app',
        password: 's3cret!',
        tls: {},
      });
    } finally {
      client.disconnect();
    }
  });

  it('keeps the single-node client without seeds', () => {
    const client = createRedisClient(
      redisTargetOf({ REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER_NODES: [] }),
      {
        lazyConnect: true,
      },
    );
    expect(client).not.toBeInstanceOf(Cluster);
    client.disconnect();
  });
});

describe('describeRedisUrl', () => {
  it('drops credentials', () => {
    expect(describeRedisUrl('redis://user:s3cretpass@redis.example.com:6380/2')).toBe(
      'redis://redis.example.com:6380/2',
    );
    expect(describeRedisUrl('unix:///run/redis/redis.sock?db=1&password=s3cretpass')).toBe(
      'unix:///run/redis/redis.sock?db=1&password=***',
    );
  });
});

describe('unixSocketOptions', () => {
  it('takes the decoded path, db and credentials of a unix:// URL, and leaves other URLs alone', () => {
    expect(unixSocketOptions('unix:///run/redis/redis.sock')).toEqual({
      path: '/run/redis/redis.sock',
    });
    expect(unixSocketOptions('unix:///tmp/a%20b.sock?db=3&username=app&password=pw')).toEqual({
      path: '/tmp/a b.sock',
      db: 3,
      username: 'app',
      password: 'pw',
    });
    expect(unixSocketOptions('redis://127.0.0.1:6379')).toBeUndefined();
  });
});

describe('connectRedis', () => {
  let redis: TestRedis | undefined;
  let connection: SupervisedRedis | undefined;
  afterEach(async () => {
    await connection?.close();
    await redis?.close();
    connection = undefined;
    redis = undefined;
  });

  it('says once that Redis is missing, fails fast as a producer, and recovers when it appears', async () => {
    const port = await freePort();
    const { lines, logger } = captureLogger();
    connection = connectRedis({
      url: `redis://127.0.0.1:${port}`,
      role: 'producer',
      name: 'test',
      logger,
      maxBackoffMs: 200,
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(connection.isReady()).toBe(false);
    expect(connection.problem()).toMatch(/ECONNREFUSED/);
    expect(lines.filter((line) => line.includes('Redis is not reachable'))).toHaveLength(1);
    const started = Date.now();
    await expect(connection.client.ping()).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(500);
    expect(readiness([{ name: 'redis', check: () => connection?.isReady() || 'down' }])).toEqual({
      ready: false,
      checks: { redis: { ready: false, reason: 'down' } },
    });

    redis = await startRedis({ port });
    await connection.waitUntilReady();
    expect(await connection.client.ping()).toBe('PONG');
    expect(lines.some((line) => line.includes('Redis is reachable again'))).toBe(true);

    await redis.stop();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(connection.isReady()).toBe(false);
    expect(lines.filter((line) => line.includes('Lost the connection to'))).toHaveLength(1);
  });

  it('connects over a Unix socket, and says what is missing when the socket is not there', async () => {
    redis = await startRedis({ unixSocket: true });
    const url = redis.socketUrl ?? '';
    expect(url).toMatch(/^unix:\/\/\/.+redis\.sock$/);
    const { logger } = captureLogger();
    connection = connectRedis({ url: `${url}?db=2`, role: 'producer', name: 'socket', logger });
    await connection.waitUntilReady();
    await connection.client.set('over-the-socket', '1');
    // The same server seen over TCP: the write went to it, in database 2.
    const tcp = connectRedis({ url: `${redis.url}/2`, role: 'producer', name: 'tcp', logger });
    try {
      await tcp.waitUntilReady();
      expect(await tcp.client.get('over-the-socket')).toBe('1');
      const clients = await tcp.client.client('LIST');
      expect(String(clients)).toMatch(/addr=\S*redis\.sock:0 .*name=socket /);
    } finally {
      await tcp.close();
    }

    const missing = captureLogger();
    const away = connectRedis({
      url: 'unix:///nonexistent-dir/redis.sock?password=s3cretpass',
      role: 'producer',
      name: 'away',
      logger: missing.logger,
      maxBackoffMs: 200,
    });
    try {
      await vi.waitFor(() =>
        expect(away.problem()).toMatch(/ENOENT .*\/nonexistent-dir\/redis\.sock/),
      );
      expect(away.isReady()).toBe(false);
      const line = missing.lines.find((text) => text.includes('Redis is not reachable'));
      expect(line).toContain('unix:///nonexistent-dir/redis.sock');
      expect(line).toContain('Start one with');
      expect(missing.lines.join('\n')).not.toContain('s3cretpass');
    } finally {
      await away.close();
    }
  });

  it('closes idempotently without hanging when Redis is away', async () => {
    const { logger } = captureLogger();
    connection = connectRedis({
      url: `redis://127.0.0.1:${await freePort()}`,
      role: 'consumer',
      name: 't',
      logger,
    });
    const started = Date.now();
    await Promise.all([connection.close(), connection.close()]);
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});

describe('createMetricsRegistry', () => {
  it('exposes default process metrics but no gauge whose name ends in _total', async () => {
    const text = await createMetricsRegistry({ process: 'test' }).metrics();
    expect(text).toContain('process_cpu_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    const gauges = [...text.matchAll(/^# TYPE (\S+) gauge$/gm)].map((match) => match[1]);
    expect(gauges.length).toBeGreaterThan(3);
    expect(gauges.filter((name) => name?.endsWith('_total'))).toEqual([]);
    expect(text).toContain('process="test"');
  });
});
