import { SettingsError } from '@callback-gateway/runtime';
import { describe, expect, it } from 'vitest';
import { breakerOptions, loadWorkerConfig, workerPartitionsOf } from './config.js';
import { Breakers } from './delivery/breaker.js';

describe('loadWorkerConfig', () => {
  it('consumes every partition (1 alone, 16 on a cluster) unless WORKER_PARTITIONS names some', () => {
    const partitions = (env: Record<string, string>) => workerPartitionsOf(loadWorkerConfig(env));
    expect(partitions({})).toEqual([0]);
    expect(partitions({ REDIS_CLUSTER_NODES: '127.0.0.1:7000' })).toHaveLength(16);
    expect(partitions({ STORE_PARTITIONS: '8', WORKER_PARTITIONS: '0-2,6,2' })).toEqual([
      0, 1, 2, 6,
    ]);
  });

  it('refuses WORKER_PARTITIONS past STORE_PARTITIONS, or malformed', () => {
    expect(() => loadWorkerConfig({ STORE_PARTITIONS: '4', WORKER_PARTITIONS: '2-4' })).toThrow(
      /WORKER_PARTITIONS: 2-4 past the 4 partitions \(0-3\) of STORE_PARTITIONS/,
    );
    expect(() => loadWorkerConfig({ STORE_PARTITIONS: '4', WORKER_PARTITIONS: '3-1' })).toThrow(
      /WORKER_PARTITIONS: 3-1 is a range from high to low/,
    );
    expect(() => loadWorkerConfig({ STORE_PARTITIONS: '4', WORKER_PARTITIONS: 'odd' })).toThrow(
      /WORKER_PARTITIONS/,
    );
    expect(() => loadWorkerConfig({ STORE_PARTITIONS: '0' })).toThrow(/STORE_PARTITIONS/);
  });

  it('refuses a database in REDIS_URL beside REDIS_CLUSTER_NODES (a cluster has only 0)', () => {
    expect(() =>
      loadWorkerConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', REDIS_URL: 'redis://r:6379?db=1' }),
    ).toThrow(/REDIS_URL: names database 1/);
  });

  it('caps the breaker open period at 5 minutes by default, or at DELIVERY_BREAKER_MAX_OPEN_MS', () => {
    const maxOpen = (env: Record<string, string>) =>
      breakerOptions(loadWorkerConfig(env)).maxOpenMs;
    expect(maxOpen({})).toBe(300_000);
    expect(
      maxOpen({ DELIVERY_BREAKER_OPEN_MS: '5000', DELIVERY_BREAKER_MAX_OPEN_MS: '20000' }),
    ).toBe(20_000);
    // A first open period longer than 5 minutes, set before the cap was a setting, still starts.
    expect(maxOpen({ DELIVERY_BREAKER_OPEN_MS: '600000' })).toBe(600_000);
  });

  it('refuses a longest open period shorter than the first', () => {
    const load = () =>
      loadWorkerConfig({
        DELIVERY_BREAKER_OPEN_MS: '60000',
        DELIVERY_BREAKER_MAX_OPEN_MS: '30000',
      });
    expect(load).toThrow(SettingsError);
    expect(load).toThrow(/DELIVERY_BREAKER_MAX_OPEN_MS: must be at least DELIVERY_BREAKER_OPEN_MS/);
  });

  it('parses cost_effective at the latest version unless told otherwise', () => {
    expect(loadWorkerConfig({})).toMatchObject({
      LLAMA_CLOUD_PARSE_TIER: 'cost_effective',
      LLAMA_CLOUD_PARSE_VERSION: 'latest',
    });
    expect(
      loadWorkerConfig({
        LLAMA_CLOUD_PARSE_TIER: 'agentic_plus',
        LLAMA_CLOUD_PARSE_VERSION: '2026-08-19',
      }),
    ).toMatchObject({
      LLAMA_CLOUD_PARSE_TIER: 'agentic_plus',
      LLAMA_CLOUD_PARSE_VERSION: '2026-08-19',
    });
  });

  it('refuses a parse tier or version that cannot be one, naming the known tiers', () => {
    const load = () =>
      loadWorkerConfig({ LLAMA_CLOUD_PARSE_TIER: 'Premium', LLAMA_CLOUD_PARSE_VERSION: 'v 2' });
    expect(load).toThrow(
      /LLAMA_CLOUD_PARSE_TIER: expected a parse tier: fast, cost_effective, agentic, agentic_plus/,
    );
    expect(load).toThrow(/LLAMA_CLOUD_PARSE_VERSION: expected a parse version: latest/);
  });

  it("refuses the LlamaCloud SDK's own variables, which nothing here sets", () => {
    // The SDK reads LLAMA_CLOUD_CUSTOM_HEADERS whatever the client gives it.
    expect(() => loadWorkerConfig({ LLAMA_CLOUD_CUSTOM_HEADERS: 'X-Extra: 1' })).toThrow(
      /LLAMA_CLOUD_CUSTOM_HEADERS/,
    );
    expect(() => loadWorkerConfig({ LLAMA_CLOUD_LOG: 'debug' })).toThrow(/LLAMA_CLOUD_LOG/);
  });

  it('hands every DELIVERY_BREAKER_* setting to the breakers', () => {
    expect(breakerOptions(loadWorkerConfig({}))).toEqual({
      consecutiveFailures: 5,
      failureRatio: 0.5,
      minimumRequests: 20,
      windowMs: 60_000,
      openMs: 30_000,
      maxOpenMs: 300_000,
    });
    const config = loadWorkerConfig({
      DELIVERY_BREAKER_FAILURES: '1000',
      DELIVERY_BREAKER_FAILURE_PERCENT: '90',
      DELIVERY_BREAKER_MIN_REQUESTS: '10',
      DELIVERY_BREAKER_OPEN_MS: '2000',
      DELIVERY_BREAKER_MAX_OPEN_MS: '8000',
    });
    expect(breakerOptions(config)).toMatchObject({
      consecutiveFailures: 1_000,
      failureRatio: 0.9,
      minimumRequests: 10,
      openMs: 2_000,
      maxOpenMs: 8_000,
    });
    const breakers = new Breakers(breakerOptions(config));
    // 8 failures of 10 (80 %): closed at 90 % (it would open at the default 50 %).
    const mostlyFailing = 'https://a.example.com';
    for (let i = 0; i < 2; i++) breakers.record(mostlyFailing, true);
    for (let i = 0; i < 8; i++) breakers.record(mostlyFailing, false);
    expect(breakers.state(mostlyFailing)).toBe('closed');
    // 8 failures of 9: under the minimum of 10 requests; the ninth failure of 10 opens it.
    const failing = 'https://b.example.com';
    breakers.record(failing, true);
    for (let i = 0; i < 8; i++) breakers.record(failing, false);
    expect(breakers.state(failing)).toBe('closed');
    breakers.record(failing, false);
    expect(breakers.state(failing)).toBe('open');
  });
});
