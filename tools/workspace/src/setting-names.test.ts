import { gatewaySettingsSchema } from '@callback-gateway/gateway';
import { SETTING_NAMES } from '@callback-gateway/runtime';
import { webhookUrlEnvSchema } from '@callback-gateway/webhook-url';
import { workerSettingsSchema } from '@callback-gateway/worker';
import { describe, expect, it } from 'vitest';

const sorted = (names: Iterable<string>) => [...new Set(names)].sort();

describe('SETTING_NAMES', () => {
  it('lists every setting a schema accepts, once, and nothing else', () => {
    const accepted = [
      ...Object.keys(gatewaySettingsSchema.shape),
      ...Object.keys(workerSettingsSchema.shape),
      // The webhook-url CLI reads these without either app.
      ...Object.keys(webhookUrlEnvSchema.shape),
    ];
    expect(new Set(SETTING_NAMES).size).toBe(SETTING_NAMES.length);
    expect(sorted(SETTING_NAMES)).toEqual(sorted(accepted));
  });
});
