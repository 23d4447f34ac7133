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
  ): { help: boolean; scenarios: string[]; settings: Record<string, unknown> };
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
const settingsModule = (await import(`${bench}settings.mjs`)) as SettingsModule;
const commandsModule = (await import(`${bench}redis-commands.mjs`)) as CommandsModule;

describe('bench settings', () => {
  const { parseSettings, parseAppEnv, describeAppEnv } = settingsModule;

  it('passes --app-env to the apps as KEY=VALUE pairs, the flag over the variable', () => {
    expect(parseAppEnv('GATEWAY_INTAKE_LINGER_MS=0, WORKER_CONCURRENCY=100,')).toEqual({
      GATEWAY_INTAKE_LINGER_MS: '0',
      WORKER_CONCURRENCY: '100',
    });
    const fromEnv = parseSettings(['delivery'], { BENCH_APP_ENV: 'WORKER_CONCURRENCY=10' });
    expect(fromEnv.settings['appEnv']).toEqual({ WORKER_CONCURRENCY: '10' });
    const both = parseSettings(['delivery', '--app-env=WORKER_CONCURRENCY=20'], {
      BENCH_APP_ENV: 'WORKER_CONCURRENCY=10',
    });
    expect(both.settings['appEnv']).toEqual({ WORKER_CONCURRENCY: '20' });
    expect(parseSettings(['delivery'], {}).settings['appEnv']).toEqual({});
  });

  it('refuses a pair that is not KEY=VALUE, and the settings the harness owns', () => {
    expect(() => parseAppEnv('worker_concurrency=1')).toThrow(/not KEY=VALUE/);
    expect(() => parseAppEnv('WORKER_CONCURRENCY')).toThrow(/not KEY=VALUE/);
    expect(() => parseAppEnv('REDIS_URL=redis://elsewhere:6379')).toThrow(/set by the harness/);
    expect(() => parseAppEnv('GATEWAY_PORT=80')).toThrow(/set by the harness/);
  });

  it('reports app settings without the values of secret-looking ones', () => {
    const text = describeAppEnv({ WORKER_CONCURRENCY: '5', LLAMA_CLOUD_API_KEY: 'llx-secret' });
    expect(text).toBe('WORKER_CONCURRENCY=5, LLAMA_CLOUD_API_KEY=(set)');
    expect(text).not.toContain('llx-secret');
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
    }
    // What runs after the last snapshot is not counted.
    await client.set('outside', 'v');
    const rows = commandsPerItem(total, 100);
    const byName = new Map(rows.map((row) => [row.command, row]));
    expect(byName.get('set')?.callsPerItem).toBe(1);
    expect(byName.get('eval')?.callsPerItem).toBe(1);
    // A script's own commands are counted under their names too.
    expect(byName.get('get')?.callsPerItem).toBe(1);
    // The snapshots' own INFO calls are left out.
    expect(byName.has('info')).toBe(false);
    // The script took at least as long as the command it ran, and rows go costliest first.
    expect(byName.get('eval')?.usPerItem).toBeGreaterThanOrEqual(byName.get('get')?.usPerItem ?? 0);
    const costs = rows.map((row) => row.usPerItem);
    expect(costs).toEqual([...costs].sort((a, b) => b - a));
  });
});
