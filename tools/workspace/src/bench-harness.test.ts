import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedis, type TestRedis } from '@callback-gateway/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The harness is plain JavaScript outside any project (bench/): loaded by path, typed here.
const bench = fileURLToPath(new URL('../../../bench/lib/', import.meta.url));

type CommandStats = Map<string, { calls: number; usec: number }>;
interface SettingsModule {
  parseSettings(
    argv: string[],
    env?: Record<string, string | undefined>,
  ): {
    help: boolean;
    scenarios: string[];
    out: string | undefined;
    settings: Record<string, unknown>;
  };
  parseAppEnv(raw: string): Record<string, string>;
  describeAppEnv(env: Record<string, string>): string;
}
interface CommandsModule {
  commandStats(url: string): Promise<CommandStats>;
  addCommandDelta(total: CommandStats, before: CommandStats, after: CommandStats): CommandStats;
  commandsPerItem(
    total: CommandStats,
    items: number,
  ): { command: string; callsPerItem: number; usPerItem: number }[];
}
interface ProfileModule {
  profileDirectory(settings: { profileDir: string }, name: string): Promise<string>;
}
interface StackModule {
  appEnvironment(
    ports: { redisUrl: string; gatewayPort: number; workerPort: number },
    appEnv?: Record<string, string>,
  ): Record<string, string>;
}
interface Helper {
  call(cmd: string, params?: Record<string, unknown>): Promise<unknown>;
}
interface IpcModule {
  startHelper(name: string): Promise<Helper>;
}
interface UtilModule {
  cleanup(): Promise<void>;
  waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean>;
}
interface BodiesModule {
  envelopeBody(eventId: string, bytes: number): string;
}
const ipcModule = (await import(`${bench}ipc.mjs`)) as IpcModule;
const utilModule = (await import(`${bench}util.mjs`)) as UtilModule;
const bodiesModule = (await import(`${bench}bodies.mjs`)) as BodiesModule;
const settingsModule = (await import(`${bench}settings.mjs`)) as SettingsModule;
const stackModule = (await import(`${bench}stack.mjs`)) as StackModule;
const commandsModule = (await import(`${bench}redis-commands.mjs`)) as CommandsModule;
const profileModule = (await import(`${bench}cpuprofile.mjs`)) as ProfileModule;

describe('bench settings', () => {
  const { parseSettings, parseAppEnv, describeAppEnv } = settingsModule;

  it('reads --app-env as KEY=VALUE pairs, list values whole, the flag over the variable', () => {
    expect(parseAppEnv('GATEWAY_INTAKE_LINGER_MS=0, WORKER_CONCURRENCY=100,')).toEqual({
      GATEWAY_INTAKE_LINGER_MS: '0',
      WORKER_CONCURRENCY: '100',
    });
    expect(parseAppEnv('OUTBOUND_ALLOW=127.0.0.1,::1,WORKER_CONCURRENCY=5')).toEqual({
      OUTBOUND_ALLOW: '127.0.0.1,::1',
      WORKER_CONCURRENCY: '5',
    });
    const fromEnv = parseSettings(['delivery'], { BENCH_APP_ENV: 'WORKER_CONCURRENCY=10' });
    expect(fromEnv.settings['appEnv']).toEqual({ WORKER_CONCURRENCY: '10' });
    const both = parseSettings(['delivery', '--app-env=WORKER_CONCURRENCY=20'], {
      BENCH_APP_ENV: 'WORKER_CONCURRENCY=10',
    });
    expect(both.settings['appEnv']).toEqual({ WORKER_CONCURRENCY: '20' });
    expect(parseSettings(['delivery'], {}).settings['appEnv']).toEqual({});
  });

  it('reads --profile-dir and --out from the directory npm was run in, and --profile-dir asks for profiles', () => {
    const parsed = parseSettings(['delivery', '--profile-dir=prof', '--out=r.json'], {
      INIT_CWD: '/home/me/work',
    });
    expect(parsed.settings['profileDir']).toBe('/home/me/work/prof');
    expect(parsed.settings['profile']).toBe(true);
    expect(parsed.out).toBe('/home/me/work/r.json');
    const plain = parseSettings(['delivery'], {});
    expect(plain.settings['profile']).toBe(false);
    expect(plain.out).toBeUndefined();
  });

  it('keeps profiles in --profile-dir, clearing only the profiles a previous run left there', async () => {
    const base = await mkdtemp(join(tmpdir(), 'bench-profile-dir-'));
    try {
      const dir = join(base, 'ingest');
      await mkdir(join(dir, 'legacy'), { recursive: true });
      await writeFile(join(dir, 'old.cpuprofile'), '{}');
      await writeFile(join(dir, 'legacy', 'old.cpuprofile'), '{}');
      await writeFile(join(dir, 'notes.txt'), 'mine');
      expect(await profileModule.profileDirectory({ profileDir: base }, 'ingest')).toBe(dir);
      // Its own profiles only: the legacy run's are cleared when that run asks for its directory.
      expect((await readdir(dir)).sort()).toEqual(['legacy', 'notes.txt']);
      expect(await readdir(join(dir, 'legacy'))).toEqual(['old.cpuprofile']);
      const legacy = await profileModule.profileDirectory(
        { profileDir: base },
        join('ingest', 'legacy'),
      );
      expect(legacy).toBe(join(dir, 'legacy'));
      expect(await readdir(legacy)).toEqual([]);
      // A directory that does not exist yet is made.
      const fresh = await profileModule.profileDirectory({ profileDir: base }, 'delivery');
      expect(await readdir(fresh)).toEqual([]);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  it('refuses a pair that is not KEY=VALUE, and the settings the harness owns', () => {
    expect(() => parseAppEnv('worker_concurrency=1')).toThrow(/not KEY=VALUE/);
    expect(() => parseAppEnv('WORKER_CONCURRENCY')).toThrow(/not KEY=VALUE/);
    expect(() => parseAppEnv('REDIS_URL=redis://elsewhere:6379')).toThrow(/set by the harness/);
    expect(() => parseAppEnv('GATEWAY_PORT=80')).toThrow(/set by the harness/);
    // The error names what came before `=`, never the value.
    expect(() => parseAppEnv('notify=xoxb-secret')).toThrow(/"notify"/);
    expect(() => parseAppEnv('notify=xoxb-secret')).not.toThrow(/xoxb/);
  });

  it('gives the apps --app-env over its defaults, never over what the harness owns', () => {
    const ports = { redisUrl: 'redis://127.0.0.1:7000', gatewayPort: 7001, workerPort: 7002 };
    const plain = stackModule.appEnvironment(ports);
    expect(plain).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:7000',
      GATEWAY_PORT: '7001',
      WORKER_PORT: '7002',
      OUTBOUND_ALLOW: '127.0.0.1',
      LOG_LEVEL: 'warn',
    });
    expect(plain['WORKER_CONCURRENCY']).toBeUndefined();
    const env = stackModule.appEnvironment(ports, {
      WORKER_CONCURRENCY: '100',
      LOG_LEVEL: 'info',
      REDIS_URL: 'redis://elsewhere:6379',
    });
    expect(env).toMatchObject({
      WORKER_CONCURRENCY: '100',
      LOG_LEVEL: 'info',
      REDIS_URL: 'redis://127.0.0.1:7000',
    });
  });

  it('reports app settings without the values of secret-looking ones', () => {
    const text = describeAppEnv({
      WORKER_CONCURRENCY: '5',
      LLAMA_CLOUD_API_KEY: 'llx-secret',
      NOTIFY_SLACK_WEBHOOK_URLS: 'https://hooks.slack.com/services/T0/B0/tok',
      LLAMA_CLOUD_BASE_URL: 'http://user:pw@127.0.0.1:9000/api',
    });
    expect(text).toBe(
      'WORKER_CONCURRENCY=5, LLAMA_CLOUD_API_KEY=(set), NOTIFY_SLACK_WEBHOOK_URLS=(set), ' +
        'LLAMA_CLOUD_BASE_URL=http://***@127.0.0.1:9000/api',
    );
  });

  it('says before starting anything when the 1 MB run has fewer requests than connections', () => {
    expect(() => parseSettings(['ingest', '--legacy-requests=10'], {})).toThrow(
      /--legacy-requests \(10\) must be at least --connections \(50\)/,
    );
    // All scenarios include ingest.
    expect(() => parseSettings(['--legacy-requests=10'], {})).toThrow(/--legacy-requests/);
    // Only the ingest scenario sends 1 MB bodies.
    expect(parseSettings(['delivery', '--legacy-requests=10'], {}).scenarios).toEqual(['delivery']);
    expect(
      parseSettings(['ingest', '--legacy-requests=10', '--connections=10'], {}).settings[
        'legacyRequests'
      ],
    ).toBe(10);
    // The delivery queue is filled over the same connections.
    expect(() => parseSettings(['delivery', '--delivery-count=20'], {})).toThrow(
      /--delivery-count \(20\) must be at least --connections \(50\)/,
    );
  });
});

describe('Redis commands per item', () => {
  const { commandStats, addCommandDelta, commandsPerItem } = commandsModule;
  let redis: TestRedis;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  });
  afterAll(async () => {
    client.disconnect();
    await redis.close();
  });

  it('counts what Redis ran between two snapshots, per item, scripts with their commands', async () => {
    const total: CommandStats = new Map();
    for (let round = 0; round < 2; round++) {
      const before = await commandStats(redis.url);
      for (let i = 0; i < 50; i++) {
        await client.set(`k${round}:${i}`, 'v');
        await client.eval("return redis.call('GET', KEYS[1])", 1, `k${round}:${i}`);
      }
      addCommandDelta(total, before, await commandStats(redis.url));
      // Between the windows (a warm-up, say): not counted.
      for (let i = 0; i < 30; i++) await client.set(`between${round}:${i}`, 'v');
      await client.hset('between', 'f', 'v');
    }
    const rows = commandsPerItem(total, 100);
    const byName = new Map(rows.map((row) => [row.command, row]));
    expect(byName.get('set')?.callsPerItem).toBe(1);
    expect(byName.get('eval')?.callsPerItem).toBe(1);
    // A script's own commands are counted under their names too.
    expect(byName.get('get')?.callsPerItem).toBe(1);
    expect(byName.has('hset')).toBe(false);
    // The snapshots' own commands are left out.
    expect(rows.map((row) => row.command).filter((name) => /info/.test(name))).toEqual([]);
    // The script took at least as long as the command it ran, and rows go costliest first.
    expect(byName.get('eval')?.usPerItem).toBeGreaterThanOrEqual(byName.get('get')?.usPerItem ?? 0);
    const costs = rows.map((row) => row.usPerItem);
    expect(costs).toEqual([...costs].sort((a, b) => b - a));
  });
});

describe('naive peers (issue 20)', () => {
  let redis: TestRedis;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  });
  afterAll(async () => {
    await utilModule.cleanup(); // the helper processes
    client.disconnect();
    await redis.close();
  });

  it('ingest: 202 for a known token, one BullMQ job per event_id, 404 for an unknown token', async () => {
    const peer = await ipcModule.startHelper('naive-ingest');
    const port = (await peer.call('start', { redisUrl: redis.url })) as number;
    await peer.call('tokens', { paths: ['/v1/callbacks/llamaparse/tok-1'] });
    const post = (token: string, eventId: string) =>
      fetch(`http://127.0.0.1:${port}/v1/callbacks/llamaparse/${token}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: bodiesModule.envelopeBody(eventId, 2048),
      });
    expect((await post('tok-1', 'ev-1')).status).toBe(202);
    expect((await post('tok-1', 'ev-1')).status).toBe(202); // a redelivery
    expect((await post('tok-1', 'ev-2')).status).toBe(202);
    expect((await post('tok-unknown', 'ev-3')).status).toBe(404);
    // BullMQ's dedup by jobId: two jobs, named by event_id, removed once complete.
    expect((await client.lrange('bull:naive-callbacks:wait', 0, -1)).sort()).toEqual([
      'ev-1',
      'ev-2',
    ]);
    const opts = JSON.parse((await client.hget('bull:naive-callbacks:ev-1', 'opts')) ?? '{}');
    expect(opts).toMatchObject({ removeOnComplete: true });
  });

  it('delivery: signs per Standard Webhooks, posts every job once, retries a non-2xx', async () => {
    const secret = randomBytes(32);
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];
    let refused = 0;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        // The first attempt of one event is refused: BullMQ must try it again.
        if (request.headers['webhook-id'] === 'd-1' && refused++ === 0) {
          response.writeHead(503).end();
          return;
        }
        received.push({ headers: request.headers, body: Buffer.concat(chunks).toString() });
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const peer = await ipcModule.startHelper('naive-delivery');
      await peer.call('setup', { redisUrl: redis.url, secret: secret.toString('base64') });
      const waiting = await peer.call('fill', {
        urls: [`http://127.0.0.1:${port}/hook/0`],
        count: 3,
        bytes: 2048,
        idPrefix: 'd',
      });
      expect(waiting).toBe(3);
      await peer.call('start', { concurrency: 50 });
      expect(await utilModule.waitFor(() => received.length >= 3, 15_000)).toBe(true);
      await peer.call('stop');
      expect(refused).toBe(2); // d-1 came twice: refused, then retried by BullMQ and taken
      expect(received.map((r) => r.headers['webhook-id']).sort()).toEqual(['d-0', 'd-1', 'd-2']);
      for (const { headers, body } of received) {
        const signed = `${String(headers['webhook-id'])}.${String(headers['webhook-timestamp'])}.${body}`;
        const expected = createHmac('sha256', secret).update(signed).digest('base64');
        expect(headers['webhook-signature']).toBe(`v1,${expected}`);
        expect(JSON.parse(body)).toMatchObject({ event_type: 'parse.running' });
      }
    } finally {
      server.close();
    }
  });
});
