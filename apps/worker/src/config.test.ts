import { SettingsError } from '@callback-gateway/runtime';
import { describe, expect, it } from 'vitest';
import { loadWorkerConfig } from './config.js';

describe('loadWorkerConfig', () => {
  it('caps the breaker open period at 5 minutes by default, or at DELIVERY_BREAKER_MAX_OPEN_MS', () => {
    expect(loadWorkerConfig({})).toMatchObject({
      DELIVERY_BREAKER_OPEN_MS: 30_000,
      DELIVERY_BREAKER_MAX_OPEN_MS: 300_000,
    });
    expect(
      loadWorkerConfig({ DELIVERY_BREAKER_OPEN_MS: '5000', DELIVERY_BREAKER_MAX_OPEN_MS: '20000' }),
    ).toMatchObject({ DELIVERY_BREAKER_OPEN_MS: 5_000, DELIVERY_BREAKER_MAX_OPEN_MS: 20_000 });
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
});
